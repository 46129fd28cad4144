"""OpenAIModel: any OpenAI-compatible Chat Completions endpoint, with bounded, honest retries.

This is the only module of the library that talks to a model endpoint. It works with OpenAI,
Azure OpenAI (pass an ``AsyncAzureOpenAI`` client) and local servers that speak the same API
(vLLM, Ollama, LM Studio). The SDK's own retries are switched off; this module retries rate
limits (429), timeouts, connection errors and 5xx with tenacity, honouring ``Retry-After``, and
fails fast on every other error with the server's own message.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
)

from operator_agent.errors import ConfigurationError, ModelError, ModelResponseError, ModelUnavailableError
from operator_agent.logs import get_logger, redact_text, register_secret_values
from operator_agent.models.base import Message, ModelResponse, ModelSettings, ToolSpec, Usage
from operator_agent.models.chat_format import (
    ImageDetail,
    MaxTokensParam,
    build_request_params,
    parse_tool_calls,
)
from operator_agent.models.guard import check_model_request_allowed, is_loopback_host
from operator_agent.models.pricing import DEFAULT_PRICES, PriceTable

__all__ = ["OpenAIModel", "retry_after_seconds"]

# Looked up per use: a logger bound at import time would ignore a later structlog configuration.
_LOGGER = "operator_agent.models"

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the SDK insists on one; this is what they receive instead.
_LOCAL_PLACEHOLDER_KEY = "no-key-needed-for-local-server"


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """How long a server asked the client to wait, from its response headers.

    Reads ``retry-after-ms`` (as OpenAI sends it) first, then ``Retry-After`` as a number of
    seconds or as an HTTP date. A date in the past means "now" (0).

    Args:
        headers: Response headers (looked up case-insensitively).
        now: The current time, for HTTP dates; the clock by default.

    Returns:
        Seconds to wait, or None if the headers say nothing usable.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = -1.0
        if value >= 0:
            return value / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 429) or exc.status_code >= 500
    return False


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    return exc.message


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection error ({type(cause).__name__}: {cause})" if cause else "connection error"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_server_message(exc)}"
    return f"{type(exc).__name__}: {exc}"


class OpenAIModel:
    """A :class:`~operator_agent.models.Model` backed by an OpenAI-compatible Chat Completions API.

    Configuration comes from the arguments, else from the SDK's environment variables
    (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) and ``OPENAI_MODEL`` for the model name. A key is
    optional only for a server on a loopback address (a local vLLM, Ollama or LM Studio).

    Use it as an async context manager, or call :meth:`aclose`, to release its connections.

    Args:
        model: The model name (for Azure: the deployment name). Default: ``$OPENAI_MODEL``.
        base_url: The API base URL, such as ``http://127.0.0.1:8000/v1``. Default:
            ``$OPENAI_BASE_URL``, else OpenAI's.
        api_key: The API key. Default: ``$OPENAI_API_KEY``.
        timeout_s: Timeout of one HTTP attempt, in seconds.
        max_retries: Retries after the first attempt for rate limits, timeouts, connection errors
            and 5xx; 0 disables retrying.
        prices: The price table for cost accounting; :data:`DEFAULT_PRICES` by default.
        client: A ready ``AsyncOpenAI`` or ``AsyncAzureOpenAI`` client, instead of ``base_url``
            and ``api_key``. Its own retries are switched off for this model; it is not closed
            by :meth:`aclose`.
        retry_max_wait_s: The longest wait between attempts, whatever ``Retry-After`` says.
        backoff_initial_s: The first backoff wait when the server gives no ``Retry-After``;
            it doubles each attempt, with jitter, up to ``retry_max_wait_s``.
        image_detail: The ``detail`` level sent with images.
        max_tokens_param: The request field for ``max_output_tokens``: OpenAI's current
            ``max_completion_tokens``, or ``max_tokens`` for servers that only know the old one.
        settings: Defaults for requests that pass no settings.

    Raises:
        ConfigurationError: If no model name or (for a non-loopback server) no API key is found,
            naming the variable to set; or if an option is out of range.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60,
        max_retries: int = 4,
        prices: PriceTable | None = None,
        client: openai.AsyncOpenAI | None = None,
        retry_max_wait_s: float = 30,
        backoff_initial_s: float = 0.5,
        image_detail: ImageDetail = "auto",
        max_tokens_param: MaxTokensParam = "max_completion_tokens",
        settings: ModelSettings | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ConfigurationError(f"OpenAIModel: timeout_s must be positive, got {timeout_s}")
        if max_retries < 0:
            raise ConfigurationError(f"OpenAIModel: max_retries must be 0 or more, got {max_retries}")
        if retry_max_wait_s < 0 or backoff_initial_s < 0:
            raise ConfigurationError(
                f"OpenAIModel: retry_max_wait_s and backoff_initial_s must be 0 or more, "
                f"got {retry_max_wait_s} and {backoff_initial_s}"
            )
        name = (model or os.environ.get("OPENAI_MODEL") or "").strip()
        if not name:
            raise ConfigurationError(
                "OpenAIModel needs a model name: pass model=... or set the OPENAI_MODEL environment variable"
            )
        self._name = name
        if client is not None:
            if base_url is not None or api_key is not None:
                raise ConfigurationError(
                    "OpenAIModel: pass either client=... or base_url/api_key, not both (the client already "
                    "carries its URL and credentials)"
                )
            self._client = client.with_options(max_retries=0)
            self._owns_client = False
        else:
            self._client = self._make_client(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
            self._owns_client = True
        self._timeout_s = float(timeout_s)
        self._max_retries = max_retries
        self._prices = DEFAULT_PRICES if prices is None else prices
        self._retry_max_wait_s = float(retry_max_wait_s)
        self._backoff_initial_s = float(backoff_initial_s)
        self._image_detail: ImageDetail = image_detail
        self._max_tokens_param: MaxTokensParam = max_tokens_param
        self._settings = settings or ModelSettings()

    @staticmethod
    def _make_client(*, base_url: str | None, api_key: str | None, timeout_s: float) -> openai.AsyncOpenAI:
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "").strip() or _DEFAULT_BASE_URL
        key = api_key or os.environ.get("OPENAI_API_KEY") or ""
        if not key:
            if not is_loopback_host(urlsplit(url).hostname or ""):
                raise ConfigurationError(
                    f"OpenAIModel has no API key for {url}: pass api_key=... or set the OPENAI_API_KEY "
                    "environment variable (only a server on a loopback address may go without one)"
                )
            key = _LOCAL_PLACEHOLDER_KEY
        return openai.AsyncOpenAI(api_key=key, base_url=url, max_retries=0, timeout=timeout_s)

    @property
    def name(self) -> str:
        """The model name sent with every request."""
        return self._name

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return str(self._client.base_url)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client in use (with its own retries switched off)."""
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections of a client this model created (not one passed in)."""
        if self._owns_client:
            await self._client.close()

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Send one chat completion request (retrying transient failures) and return the reply.

        Raises:
            UnexpectedModelRequestError: If model requests are switched off and the endpoint is
                not on a loopback address; raised before any network I/O.
            ModelUnavailableError: If rate limits, timeouts, connection errors or 5xx outlast
                ``max_retries``; the message gives the number of attempts and the last error.
            ModelError: At once for any other HTTP error (401, 400 ...), with the server's message.
            ModelResponseError: If the reply is not valid JSON or not a usable completion.
        """
        check_model_request_allowed(host=self._client.base_url.host, model_name=self._name)
        if not messages:
            raise ConfigurationError(f"OpenAIModel {self._name!r}: a request needs at least one message")
        params = build_request_params(
            messages=messages,
            tools=tools,
            settings=settings or self._settings,
            image_detail=self._image_detail,
            max_tokens_param=self._max_tokens_param,
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        attempt = 0
        secrets = [self._client.api_key] if self._client.api_key else []
        with register_secret_values(secrets):
            try:
                async for attempt_state in retrying:
                    with attempt_state:
                        attempt = attempt_state.retry_state.attempt_number
                        return await self._attempt(params, attempt)
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                if not _is_retryable(exc):
                    raise
                get_logger(_LOGGER).error(
                    "model unavailable", model=self._name, attempts=attempt, error=_describe(exc)
                )
                raise ModelUnavailableError(
                    f"model {self._name!r} at {self.base_url} is unavailable: gave up after {attempt} "
                    f"attempt(s); last error: {redact_text(_describe(exc), secrets)}"
                ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(self, params: dict[str, Any], attempt: int) -> ModelResponse:
        started = time.perf_counter()
        try:
            completion = await self._client.chat.completions.create(
                model=self._name,
                timeout=self._timeout_s,
                **params,
            )
        except openai.APIStatusError as exc:
            if _is_retryable(exc):
                raise
            # Servers quote the key back on 401s; it must not travel on in an exception message.
            described = redact_text(_describe(exc), [self._client.api_key] if self._client.api_key else [])
            raise ModelError(
                f"model {self._name!r} at {self.base_url} refused the request: {described}"
            ) from exc
        except openai.APIResponseValidationError as exc:
            raise ModelResponseError(
                f"model {self._name!r} at {self.base_url} sent a reply that is not a chat completion: "
                f"{exc.message}"
            ) from exc
        except json.JSONDecodeError as exc:
            raise ModelResponseError(
                f"model {self._name!r} at {self.base_url} sent a body that is not valid JSON: {exc.msg} at "
                f"line {exc.lineno} column {exc.colno}"
            ) from exc
        except openai.APIConnectionError:
            raise  # retried by the caller
        except openai.OpenAIError as exc:
            raise ModelError(
                f"model {self._name!r} at {self.base_url}: the OpenAI client failed: {exc}"
            ) from exc
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        response = self._to_response(cast(Any, completion))
        get_logger(_LOGGER).info(
            "model request",
            model=self._name,
            attempt=attempt,
            latency_ms=latency_ms,
            input_tokens=response.usage.input_tokens,
            cached_input_tokens=response.usage.cached_input_tokens,
            output_tokens=response.usage.output_tokens,
            cost_usd=response.usage.cost_usd,
            finish_reason=response.finish_reason,
            tool_calls=len(response.tool_calls),
        )
        return response

    def _to_response(self, completion: Any) -> ModelResponse:
        if not isinstance(completion, openai.types.chat.ChatCompletion):
            raise ModelResponseError(
                f"model {self._name!r} at {self.base_url} sent a reply of type {type(completion).__name__}, "
                "not a chat completion"
            )
        if not completion.choices:
            raise ModelResponseError(
                f"model {self._name!r} at {self.base_url} returned no choices "
                f"(completion id {completion.id!r})"
            )
        choice = completion.choices[0]
        message = choice.message
        served_by = completion.model or self._name
        tool_calls = parse_tool_calls(list(message.tool_calls or ()), model_name=served_by)
        text = message.content or ""
        if not text and not tool_calls and message.refusal:
            text = message.refusal
        return ModelResponse(
            text=text,
            tool_calls=tool_calls,
            usage=self._usage(completion.usage, served_by),
            model_name=served_by,
            finish_reason=choice.finish_reason,
        )

    def _usage(self, raw: Any, served_by: str) -> Usage:
        if raw is None:
            # Some local servers send no usage; the request still counts, its cost is unknown.
            return Usage(requests=1)
        input_tokens = int(raw.prompt_tokens or 0)
        output_tokens = int(raw.completion_tokens or 0)
        details = raw.prompt_tokens_details
        cached = int((details.cached_tokens if details is not None else 0) or 0)
        cost = None
        for candidate in (served_by, self._name):
            cost = self._prices.cost(
                candidate, input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens
            )
            if cost is not None:
                break
        return Usage(
            requests=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cost_usd=cost,
        )

    def _wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, openai.APIStatusError):
            asked = retry_after_seconds(exc.response.headers)
            if asked is not None:
                return min(asked, self._retry_max_wait_s)
        # Exponential backoff with up to one initial step of jitter, so parallel runs spread out.
        exponent = min(retry_state.attempt_number - 1, 30)
        backoff = self._backoff_initial_s * (2.0**exponent) + random.uniform(0, self._backoff_initial_s)
        return min(backoff, self._retry_max_wait_s)

    def _log_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait_s = retry_state.next_action.sleep if retry_state.next_action else None
        get_logger(_LOGGER).warning(
            "model request failed, retrying",
            model=self._name,
            attempt=retry_state.attempt_number,
            max_attempts=self._max_retries + 1,
            error=_describe(exc) if exc is not None else None,
            status=getattr(exc, "status_code", None),
            wait_s=round(wait_s, 3) if wait_s is not None else None,
        )

    def __repr__(self) -> str:
        return f"OpenAIModel(model={self._name!r}, base_url={self.base_url!r})"
