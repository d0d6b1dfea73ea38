"""Linear probe, the cheapest baseline: logistic regression on the mean-pooled final
states of the frozen encoder. The encoder never changes, so each row's features are
computed once and reused every epoch."""

from xprompt.methods import MethodSpec
from xprompt.methods.probe.config import ProbeConfig

SPEC = MethodSpec(
    ProbeConfig, "xprompt.methods.probe.model:LinearProbe",
    "baseline: logistic regression on mean-pooled frozen states",
    "standard baseline (logistic regression on frozen sentence features)", "one linear layer; the encoder is frozen")
