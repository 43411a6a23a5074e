"""The HTTP service: a Flask app over a ``Runtime``.

Example::

    >>> from agent_runtime.service import ServiceSettings, create_app
    >>> from agent_runtime.bootstrap import build_runtime
    >>> app = create_app(build_runtime(), ServiceSettings(admin_token="s3cret"))  # doctest: +SKIP
"""

from agent_runtime.service.app import create_app
from agent_runtime.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
