"""llama-cpp-python's OpenAI-compatible server, started without weight repacking into AMX tiles.

    python -m gateway.providers.llama_server --model M.gguf --port 8081 ...   (llama_cpp.server's options)

On virtual machines whose CPU reports AMX but whose kernel does not hand the tile state to every
thread, ggml's AMX buffer faults on the first `ldtilecfg` (a general protection fault in
libggml-cpu, the server answering with an empty reply; ggml-org/llama.cpp PR #26954). Loading the
weights without extra buffer types keeps them on the plain CPU path, which runs everywhere.
"""

from __future__ import annotations

import sys
from typing import Any


def _without_extra_buffers(defaults: Any) -> Any:
    def params() -> Any:
        value = defaults()
        value.use_extra_bufts = False
        return value

    return params


def main() -> None:
    import llama_cpp.llama_cpp as bindings
    from llama_cpp.server.__main__ import main as serve

    bindings.llama_model_default_params = _without_extra_buffers(bindings.llama_model_default_params)
    sys.exit(serve())


if __name__ == "__main__":
    main()
