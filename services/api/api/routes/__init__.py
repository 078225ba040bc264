"""The api's routes, one module per resource; ``api.app.create_app`` mounts them."""
