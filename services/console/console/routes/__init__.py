"""The console's pages, one module per subject; ``console.app.create_app`` mounts them."""
