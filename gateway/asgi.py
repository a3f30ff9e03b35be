"""The ASGI entry point for several uvicorn workers: settings from the environment."""

from gateway.app import create_app, settle_heap_for_serving
from gateway.settings import load_settings

app = create_app(load_settings())
settle_heap_for_serving()
