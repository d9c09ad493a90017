"""The operations map and digital twin: a built single-page app and its thin routes."""
