"""Flask extensions configured for PumpAPI: flask-smorest (OpenAPI, Swagger UI) and JSON."""
