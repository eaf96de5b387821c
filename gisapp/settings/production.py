"""Production: no defaults for secrets; bad configuration fails at start-up."""

from .base import *  # noqa: F403
from .base import ALLOWED_HOSTS, SECRET_KEY, env, require

DEBUG = False
require("DJANGO_SECRET_KEY", SECRET_KEY)
require("DJANGO_ALLOWED_HOSTS", ALLOWED_HOSTS)
require("DATABASE_URL", env("DATABASE_URL"))
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
