"""One error hierarchy: each error knows its CLI exit code and its HTTP status."""


class SparrowError(Exception):
    """Base of every error the system reports to a person (one clear line, no traceback)."""

    exit_code = 1
    http_status = 500


class ConfigError(SparrowError):
    """A setting or command-line option is invalid."""

    exit_code = 2
    http_status = 400


class DataError(SparrowError):
    """Input data is missing, of an unknown layout, truncated or malformed."""

    exit_code = 3
    http_status = 422


class DownloadError(SparrowError):
    """A dataset could not be downloaded or failed verification."""

    exit_code = 4
    http_status = 502


class BuildError(SparrowError):
    """An offline build step failed."""

    exit_code = 5
    http_status = 500


class RequestError(SparrowError):
    """A request names something invalid (an HTTP 4xx; a parameter's value on the CLI)."""

    exit_code = 2
    http_status = 422


class NotFoundError(RequestError):
    """A request names a movie, user, genre or file that does not exist."""

    http_status = 404


class TooLargeError(RequestError):
    """A request body over its limit."""

    http_status = 413


class MediaTypeError(RequestError):
    """A request body of a type the endpoint does not take."""

    http_status = 415


class UnavailableError(SparrowError):
    """What a request needs is down or not loaded (a model, the event log); try again later."""

    exit_code = 6
    http_status = 503
