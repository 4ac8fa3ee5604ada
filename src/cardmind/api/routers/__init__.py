"""One router per resource; ``cardmind.api.app.ROUTERS`` lists the modules to mount."""
