"""The pure core: formats, schemas, selection and reports. No pytest, no torch: the standard
library, jsonschema (the published schemas), msgspec and numpy (the fast paths for big files)."""
