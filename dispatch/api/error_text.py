"""A sentence a person reads beside each error answer's stable code, in the language the
client's Accept-Language prefers (zh-CN unless it asks for English).

The codes (`error`) and the detail (`field`, `reason`) stay as they are for programs; the
`message` is for the dispatcher, crew or admin looking at the screen. Added around every
installed error handler, so a handler added later gets it too without knowing of it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from dispatch.lang import Lang, pick, preferred_lang

# error code -> (zh-CN, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "unauthenticated": ("未登录或登录已过期，请重新登录。",
                        "Not signed in, or the sign-in has expired: sign in again."),
    "forbidden": ("当前账号无权进行此操作。", "This account may not do this."),
    "not_found": ("未找到所请求的记录。", "The record asked for does not exist."),
    "conflict": ("操作与当前状态冲突（可能已被他人处理），请刷新后重试。",
                 "This conflicts with the current state (someone may have acted first): "
                 "refresh and try again."),
    "invalid_input": ("输入有误，请按提示修改所列字段。",
                      "Some input is wrong: correct the fields listed."),
    "unavailable": ("后台服务暂不可用，请稍后重试。",
                    "A backing service is unavailable: try again shortly."),
    "payload_too_large": ("提交的内容过大。", "The request is too large."),
    "http_error": ("请求无法处理。", "The request could not be handled."),
    "error": ("请求失败。", "The request failed."),
}


def error_message(code: str, lang: Lang) -> str:
    """The sentence for one error code (the generic one for a code not listed)."""
    zh, en = MESSAGES.get(code, MESSAGES["error"])
    return pick(lang, zh, en)


def with_message(response: Response, accept_language: str | None) -> Response:
    """`response` with `message` beside its error code, if it is a JSON error answer."""
    if not (response.media_type or "").startswith("application/json"):
        return response
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return response
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) \
            or "message" in body:
        return response
    body["message"] = error_message(body["error"], preferred_lang(accept_language))
    response.body = orjson.dumps(body)
    response.headers["content-length"] = str(len(response.body))
    vary = response.headers.get("vary")
    response.headers["vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    return response


Handler = Callable[[Request, Exception], Any]


def _localised(handler: Handler) -> Callable[[Request, Exception], Awaitable[Any]]:
    @functools.wraps(handler)
    async def localised(request: Request, exc: Exception) -> Any:
        answer = handler(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, Response):  # websocket handlers close and answer nothing
            return with_message(answer, request.headers.get("accept-language"))
        return answer

    return localised


def localise_error_handlers(app: FastAPI) -> None:
    """Wrap every exception handler installed on `app` so far (call after installing)."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _localised(handler)
