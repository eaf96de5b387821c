"""A developer's machine: DEBUG, a fixed insecure key, loopback only."""

from .base import *  # noqa: F403
from .base import env

DEBUG = True
SECRET_KEY = env("DJANGO_SECRET_KEY", "local-insecure-key-for-development-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
