"""The test suite: real PostGIS (a test database on the same cluster), fast hashing."""

from .base import *  # noqa: F403
from .base import BASE_DIR

DEBUG = False
SECRET_KEY = "test-key-not-secret"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / "var" / "test-media"

# Several test runs may share one local cluster (a developer and an editor's runner):
# each run gets its own test database, dropped at the end as usual.
import os  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_nongdi_{os.getpid()}"}
