"""The LLMs behind `domain.ports.Analyser`: AWS Bedrock Runtime `Converse` and Google Gemini.

Bedrock uses the platform's AWS identity, configured the standard way (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`
reaches a test endpoint); its client is made on first use, in a worker thread, so an idle process
never loads boto3 for it. Gemini goes through the `google-genai` SDK with the API key and, for
proxies and tests, a base URL. Every failure (refusal, error, timeout) becomes an `LlmError` with a
short reason; the caller keeps the rules' result.
"""

from __future__ import annotations

import asyncio
import threading
from functools import partial
from typing import Any

from adapters import threads
from domain.ports import LlmError, LlmReply

DEFAULT_BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
DEFAULT_GEMINI_MODEL = "gemini-2.0-flash"
MAX_OUTPUT_TOKENS = 800


class BedrockAnalyser:
    source = "BEDROCK"

    def __init__(self, model: str = DEFAULT_BEDROCK_MODEL, region: str | None = None) -> None:
        self.model = model
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                from adapters.aws import client_config

                session = boto3.session.Session()
                self._client = session.client(
                    "bedrock-runtime",
                    region_name=self.region or session.region_name or "us-east-1",
                    config=client_config(max_attempts=2),
                )
            return self._client

    def _converse(self, system: str, prompt: str) -> LlmReply:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client().converse(
                modelId=self.model,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": prompt}]}],
                inferenceConfig={"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0.0},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise LlmError(f"Bedrock answered {code}") from None
        except BotoCoreError as exc:
            raise LlmError(f"Bedrock could not be reached ({type(exc).__name__})") from None
        stop = str(answer.get("stopReason", ""))
        if stop in ("content_filtered", "guardrail_intervened"):
            raise LlmError(f"Bedrock refused ({stop})")
        parts = answer.get("output", {}).get("message", {}).get("content", [])
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        usage = answer.get("usage", {})
        return LlmReply(
            text, self.model, int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)), stop
        )

    async def complete(self, system: str, prompt: str, seconds: float) -> LlmReply:
        try:
            return await asyncio.wait_for(
                threads.run_sync(partial(self._converse, system, prompt)),
                seconds,
            )
        except TimeoutError:
            raise LlmError(f"Bedrock took longer than {seconds:g} s") from None


class GeminiAnalyser:
    source = "GEMINI"

    def __init__(self, api_key: str, model: str = DEFAULT_GEMINI_MODEL, base_url: str | None = None) -> None:
        self.model = model
        self._api_key = api_key
        self._base_url = base_url
        self._client: Any = None

    def client(self, timeout: float) -> Any:
        if self._client is None:
            from google import genai
            from google.genai import types

            options = types.HttpOptions(timeout=int(timeout * 1000), base_url=self._base_url)
            self._client = genai.Client(api_key=self._api_key, http_options=options)
        return self._client

    async def complete(self, system: str, prompt: str, seconds: float) -> LlmReply:
        from google.genai import errors, types

        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0.0,
            max_output_tokens=MAX_OUTPUT_TOKENS,
            response_mime_type="application/json",
        )
        try:
            answer = await asyncio.wait_for(
                self.client(seconds).aio.models.generate_content(
                    model=self.model, contents=prompt, config=config
                ),
                seconds,
            )
        except TimeoutError:
            raise LlmError(f"Gemini took longer than {seconds:g} s") from None
        except errors.APIError as exc:
            raise LlmError(f"Gemini answered {exc.code}") from None
        except Exception as exc:  # noqa: BLE001 - the SDK's transport errors vary (httpx, aiohttp)
            raise LlmError(f"Gemini could not be reached ({type(exc).__name__})") from None
        candidates = answer.candidates or []
        finish = str(candidates[0].finish_reason) if candidates and candidates[0].finish_reason else ""
        if "SAFETY" in finish or "PROHIBITED" in finish or "BLOCKLIST" in finish:
            raise LlmError(f"Gemini refused ({finish})")
        usage = answer.usage_metadata
        return LlmReply(
            answer.text or "",
            self.model,
            int(getattr(usage, "prompt_token_count", 0) or 0),
            int(getattr(usage, "candidates_token_count", 0) or 0),
            finish,
        )


def llm_analysers(settings: Any) -> list[Any]:
    """The configured providers in the order they are tried: Bedrock (unless its model is set to
    ""), then Gemini (with an API key)."""
    out: list[Any] = []
    if settings.bedrock_model:
        out.append(BedrockAnalyser(settings.bedrock_model, settings.bedrock_region))
    if settings.gemini_api_key:
        out.append(GeminiAnalyser(settings.gemini_api_key, settings.gemini_model, settings.gemini_base_url))
    return out
