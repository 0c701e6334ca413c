"""SchemaHub shared engine: resilience, mapping engine, unified schema, simulators."""

__version__ = "0.1.0"
