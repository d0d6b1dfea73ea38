"""The options of the soft method (no torch: pipelines are checked and keyed with them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from xprompt.pipeline.config import neutral
from xprompt.errors import ConfigError
from xprompt.methods.options import PromptOptions


class SoftPosition(str, enum.Enum):
    PREPEND = "prepend"
    AFTER_CLS = "after_cls"


class SoftInit(str, enum.Enum):
    RANDOM = "random"
    TEXT = "text"
    VOCAB = "vocab"
    LIBRARY = "library"


@dataclass
class SoftConfig(PromptOptions):
    position: SoftPosition = field(default=SoftPosition.PREPEND, metadata={**neutral(SoftPosition.AFTER_CLS),
        "help": "prepend: before the whole input (Lester et al., PEFT); after_cls: right after the first "
                "special token (or where the template puts [soft:N])"})
    init: SoftInit = field(default=SoftInit.VOCAB, metadata={
        "help": "random, text (embeddings of init_text's tokens, repeated or cut to num_tokens), "
                "vocab (embeddings of sampled vocabulary rows) or library (init_prompt's trained prompt)"})
    init_text: str | None = field(default=None, metadata={"help": "text whose token embeddings start the prompt"})
    init_prompt: str | None = field(default=None, metadata={
        "help": "with init: library: a .safetensors file (e.g. from `xprompt library rank`), an export folder "
                "or a cache train entry holding a [num_tokens, hidden] prompt; read when the config is made and "
                "replaced by its content hash (sha256:...), so cache keys never see the path"})

    def __post_init__(self):
        super().__post_init__()
        if self.position == SoftPosition.PREPEND and self.template and "[soft" in self.template:
            raise ConfigError(f"soft.template {self.template!r} places [soft] tokens, but position: prepend puts "
                              f"them before the input; drop [soft:N] from the template or use position: after_cls")
        if (self.init == SoftInit.TEXT) != bool(self.init_text):
            raise ConfigError("soft.init_text is needed with soft.init: text, and only with it")
        if (self.init == SoftInit.LIBRARY) != bool(self.init_prompt):
            raise ConfigError("soft.init_prompt is needed with soft.init: library, and only with it")
        if self.init == SoftInit.LIBRARY:
            from xprompt.prompts.prompt_files import load_init_prompt  # the library imports this module
            self.library_path = self.init_prompt  # not a field: keys see the content hash only
            self.library_prompt, self.init_prompt = load_init_prompt(self.init_prompt, self.num_tokens)
