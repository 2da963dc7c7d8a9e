"""The pure core: formats, schemas, selection and reports. Standard library and jsonschema only."""
