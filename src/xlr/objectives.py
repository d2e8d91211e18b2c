"""The method registry: one declaration per training method, next to the objective that computes its loss.

A method is one `register(Method(...))` entry: its options (name, type, default, help), how it builds its
objective from the model, and an optional transform of the training pairs (RS-DA's augmentation). The CLI
generates its method flags from these entries; reports order methods as registered. The Trainer subclass
in training.py delegates its loss to the objective. Evaluation batches never go through an objective:
they use plain cross-entropy.

torch is imported inside the functions that use it, so that the CLI can read the registry (to build its
flags) without paying for torch's import.

Perturbations act on the word embeddings e = E[input_ids] (the lookup output, before position and
segment embeddings and LayerNorm), fed to the model through `inputs_embeds`. They are per token,
||delta_i||_2 <= epsilon, and zero on padding.

Radii are given relative to the model: `epsilon` is a fraction of the median L2 norm of the rows of the
word-embedding matrix, so one setting means the same relative perturbation for mBERT, XLM-R and e5,
whose embedding norms differ. The paper's epsilon, step size, number of steps and noise scale are not in
our sources; the defaults below are our choice, explained in README.md ("Robust training").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from xlr.errors import XlrError


class Objective:
    name = "objective"

    def loss(self, model, inputs: dict):
        """Return (loss, outputs) for one training batch; `model` may be DDP-wrapped."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The resolved settings, recorded with the run."""
        return {}


class CrossEntropy(Objective):
    """baseline (and RS-DA, whose randomness lives in the data): min_f sum L(f(x), y)."""

    name = "baseline"

    def loss(self, model, inputs):
        outputs = model(**inputs)
        return outputs.loss, outputs


# --------------------------------------------------------------------------------------- registry

OPTION_TYPES = ("float", "int", "str", "path")


@dataclass(frozen=True)
class Option:
    """One option of a method: its name (the TOML key; the CLI flag is --name-with-dashes), type, default
    and help. Methods that share an option name share one CLI flag, so the name must mean the same kind of
    thing (`epsilon` is a fraction of the median word-embedding norm wherever it appears)."""
    name: str
    type: str
    default: object
    help: str
    choices: tuple = ()
    # an option added after runs were stored, whose default is the behaviour from before it existed: at that
    # default it is left out of a run's identity, so those runs still count as finished
    added_later: bool = False

    def __post_init__(self):
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name}: type must be one of {OPTION_TYPES}")


@dataclass(frozen=True)
class Method:
    """A training method, declared once: `objective(model, options)` builds its loss; `transform(pairs,
    options, seed)`, if any, returns (the training pairs it trains on, a line saying what it did)."""
    name: str
    summary: str
    options: tuple = ()
    objective: Callable = None
    transform: Callable | None = None
    paper: bool = True          # False: beyond the paper (reports and README mark it so)

    @property
    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.name == name)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name} is registered twice")
    if method.objective is None:
        raise ValueError(f"method {method.name} declares no objective")
    METHODS[method.name] = method
    return method


def shared_options() -> dict[str, list[tuple[Method, Option]]]:
    """{option name: [(method, option), ...]} over the registry, in registration order: one CLI flag each."""
    out: dict[str, list] = {}
    for method in METHODS.values():
        for option in method.options:
            out.setdefault(option.name, []).append((method, option))
    for name, users in out.items():
        kinds = {o.type for _, o in users}
        if len(kinds) > 1:
            raise ValueError(f"option {name} has different types in {', '.join(m.name for m, _ in users)}")
    return out


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise XlrError(f"unknown method '{name}'; valid methods: {', '.join(METHODS)}") from None


def resolve_options(name: str, given: dict | None) -> dict:
    """The method's defaults overridden by `given`; unknown option names and wrong types are errors."""
    from xlr.config import coerce

    method = get_method(name)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(method.defaults))
    if unknown:
        valid = ", ".join(method.defaults) or "none"
        raise XlrError(f"method {name} has no option {', '.join(unknown)} (its options: {valid})")
    for key, value in given.items():
        option = method.option(key)
        given[key] = coerce(f"methods.{name}.{key}", value, "str" if option.type == "path" else option.type)
        if option.choices and given[key] not in option.choices:
            raise XlrError(f"methods.{name}.{key} = {value!r}: {name} {key} must be one of "
                           f"{', '.join(map(repr, option.choices))}")
    return {**method.defaults, **given}


def identity_options(name: str, options: dict) -> dict:
    """The resolved options that decide a run's results: without the options that are `added_later` and
    at their default (runs stored before they existed behaved so)."""
    later = {o.name: o.default for o in get_method(name).options if o.added_later}
    return {k: v for k, v in options.items() if not (k in later and v == later[k])}


def make_objective(name: str, options: dict, model=None) -> Objective:
    """The objective of a method with resolved options; `model` gives the embedding norm of radii."""
    return get_method(name).objective(model, options)


def _needs_model(name: str, model):
    if model is None:
        raise ValueError(f"{name} needs the model to scale its radius")
    return model


BASELINE = "baseline"   # the method every gain is measured against

register(Method(
    BASELINE, "plain fine-tuning with cross-entropy",
    objective=lambda model, options: CrossEntropy()))


# ------------------------------------------------------------------------------- per-token geometry

def token_mask(inputs: dict, like: torch.Tensor) -> torch.Tensor:
    """(batch, length, 1) mask: 1 on real tokens, 0 on padding."""
    import torch

    mask = inputs.get("attention_mask")
    if mask is None:
        return torch.ones(like.shape[:-1] + (1,), dtype=like.dtype, device=like.device)
    return mask.unsqueeze(-1).to(like.dtype)


def project(delta: torch.Tensor, epsilon: float, mask: torch.Tensor) -> torch.Tensor:
    """Scale every token's delta_i back into its L2 ball of radius epsilon; zero on padding."""
    import torch

    norms = delta.norm(dim=-1, keepdim=True)
    return delta * torch.clamp(epsilon / (norms + 1e-12), max=1.0) * mask


def uniform_in_ball(shape, epsilon: float, mask: torch.Tensor, generator=None) -> torch.Tensor:
    """One delta_i per token, uniform in the d-dimensional L2 ball of radius epsilon; zero on padding.

    A uniform direction (normalised Gaussian) times radius epsilon * U^(1/d). In high dimension almost
    all of the ball's volume is near its surface, so ||delta_i|| is close to epsilon.
    """
    import torch

    direction = torch.randn(shape, generator=generator, device=mask.device, dtype=mask.dtype)
    direction = direction / (direction.norm(dim=-1, keepdim=True) + 1e-12)
    u = torch.rand(shape[:-1] + (1,), generator=generator, device=mask.device, dtype=mask.dtype)
    return direction * epsilon * u.pow(1.0 / shape[-1]) * mask


def gaussian(shape, epsilon: float, mask: torch.Tensor, generator=None) -> torch.Tensor:
    """Isotropic Gaussian noise with sigma = epsilon / sqrt(d), so E||delta_i||^2 = epsilon^2; zero on padding."""
    import torch

    noise = torch.randn(shape, generator=generator, device=mask.device, dtype=mask.dtype)
    return noise * (epsilon / shape[-1] ** 0.5) * mask


def median_embedding_norm(model) -> float:
    """The median L2 norm of the rows of the word-embedding matrix (the unit of `epsilon`)."""
    import torch

    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        return float(weight.detach().float().norm(dim=-1).median())


def unwrap(model):
    """The module under DDP / DataParallel / compile wrappers."""
    while hasattr(model, "module"):
        model = model.module
    return getattr(model, "_orig_mod", model)


def rng_state(device) -> tuple:
    """The generators that draw dropout masks on DEVICE: the CPU's, and the device's own on CUDA."""
    import torch

    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def set_rng_state(state: tuple, device) -> None:
    import torch

    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _split_inputs(inputs: dict):
    rest = {k: v for k, v in inputs.items() if k != "input_ids"}
    return inputs["input_ids"], rest


class _EmbeddingPerturbation(Objective):
    def __init__(self, epsilon: float, unit: float):
        if epsilon < 0:
            raise XlrError(f"epsilon must be >= 0, not {epsilon}")
        self.relative_epsilon = epsilon
        self.unit = unit
        self.epsilon = epsilon * unit  # absolute radius in embedding space

    def describe(self) -> dict:
        return {"epsilon": self.relative_epsilon, "embedding_norm": round(self.unit, 6),
                "epsilon_absolute": round(self.epsilon, 6)}


DROPOUT_MASKS = ("fresh", "shared")


class Adversarial(_EmbeddingPerturbation):
    """adv: min_f sum max_{||delta_i|| <= eps} L(f(x + delta), y), the inner max by projected gradient ascent.

    `dropout` says which dropout masks the passes draw in training mode: "fresh", every pass its own (the
    attack is then computed for masks that the training pass does not use), or "shared", every ascent
    step and the training pass the same masks (the random-number state is restored before each pass), so
    the training pass sees exactly the loss the attack ascended."""

    name = "adv"

    def __init__(self, epsilon: float, steps: int, step_size: float, unit: float, dropout: str = "fresh"):
        super().__init__(epsilon, unit)
        if steps < 1:
            raise XlrError(f"adv steps must be >= 1, not {steps}")
        if dropout not in DROPOUT_MASKS:
            raise XlrError(f"adv dropout must be one of {', '.join(map(repr, DROPOUT_MASKS))}, not {dropout!r}")
        self.steps = steps
        self.relative_step_size = step_size
        self.step_size = step_size * self.epsilon  # alpha, absolute
        self.dropout = dropout

    def describe(self) -> dict:
        return {**super().describe(), "steps": self.steps, "step_size": self.relative_step_size,
                "dropout": self.dropout}

    def perturbation(self, model, inputs: dict) -> torch.Tensor:
        """The inner maximisation. Gradients are taken w.r.t. delta only: no parameter .grad is touched,
        and the unwrapped module is used, so a DDP wrapper sees no extra forward/backward."""
        return self.attack(model, inputs)[0]

    def attack(self, model, inputs: dict) -> tuple:
        """(delta, the random-number state its passes started from: None unless dropout is shared)."""
        import torch

        core = unwrap(model)
        input_ids, rest = _split_inputs(inputs)
        with torch.no_grad():
            e = core.get_input_embeddings()(input_ids)
        mask = token_mask(inputs, e)
        delta = uniform_in_ball(e.shape, self.epsilon, mask)
        state = rng_state(e.device) if self.dropout == "shared" else None
        for _ in range(self.steps):
            if state is not None:
                set_rng_state(state, e.device)
            delta.requires_grad_(True)
            loss = core(inputs_embeds=e + delta, **rest).loss
            (grad,) = torch.autograd.grad(loss, delta)
            step = grad / (grad.norm(dim=-1, keepdim=True) + 1e-12)  # per-token normalised ascent direction
            delta = project(delta.detach() + self.step_size * step, self.epsilon, mask)
        return delta.detach(), state

    def loss(self, model, inputs):
        delta, state = self.attack(model, inputs)
        input_ids, rest = _split_inputs(inputs)
        e = unwrap(model).get_input_embeddings()(input_ids)  # with graph: the embeddings are trained too
        if state is not None:
            set_rng_state(state, e.device)
        outputs = model(inputs_embeds=e + delta, **rest)
        return outputs.loss, outputs


# epsilon: a fraction of the median word-embedding norm, chosen by `xlr sweep` on e5-small's English dev,
# 3 seeds (bench/README.md, "Choosing the radii"): 0.005 had the best mean dev accuracy of 0.005, 0.01,
# 0.02 and 0.05; every larger radius kept more seeds on PAWS's majority-class plateau. One step at 0.005
# moves the sentence representation a quarter as far as swapping two adjacent words (bench/geometry.py).
# steps K = 1, step_size alpha = 1.25 epsilon from a random start (Wong, Rice & Kolter 2020)
register(Method(
    "adv", "adversarial training: PGD on per-token word-embedding perturbations",
    options=(Option("epsilon", "float", 0.005, "radius of each token's perturbation, as a fraction of the median "
                    "word-embedding norm (chosen by an English-dev sweep on e5-small: README, 'Robust training')"),
             Option("steps", "int", 1, "gradient-ascent steps K"),
             Option("step_size", "float", 1.25, "step size alpha, as a fraction of epsilon"),
             Option("dropout", "str", "fresh", "dropout masks of the attack and training passes: fresh (each pass "
                    "its own) or shared (the training pass reuses the attack's; README, 'Robust training')",
                    choices=DROPOUT_MASKS, added_later=True)),
    objective=lambda model, o: Adversarial(float(o["epsilon"]), int(o["steps"]), float(o["step_size"]),
                                           median_embedding_norm(_needs_model("adv", model)), o["dropout"])))


class RandomPerturbation(_EmbeddingPerturbation):
    """rs-rp: min_f sum E_delta L(f(x + delta), y), one fresh delta per example (per token) per step."""

    name = "rs-rp"

    def __init__(self, epsilon: float, noise: str, unit: float):
        super().__init__(epsilon, unit)
        if noise not in ("ball", "gaussian"):
            raise XlrError(f"rs-rp noise must be 'ball' or 'gaussian', not '{noise}'")
        self.noise = noise

    def describe(self) -> dict:
        return {**super().describe(), "noise": self.noise}

    def sample(self, e: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        draw = uniform_in_ball if self.noise == "ball" else gaussian
        return draw(e.shape, self.epsilon, mask)

    def loss(self, model, inputs):
        input_ids, rest = _split_inputs(inputs)
        e = unwrap(model).get_input_embeddings()(input_ids)
        delta = self.sample(e, token_mask(inputs, e))
        outputs = model(inputs_embeds=e + delta, **rest)
        return outputs.loss, outputs


# the same sweep over 0.1, 0.2, 0.4 and 0.8: 0.2 had the best mean dev accuracy (0.1 within 0.2 points);
# at 0.2 random noise moves e5's representation about as far as a word swap
register(Method(
    "rs-rp", "randomized smoothing with random per-token embedding perturbations",
    options=(Option("epsilon", "float", 0.2, "radius of each token's perturbation, as a fraction of the median "
                    "word-embedding norm (chosen by an English-dev sweep on e5-small: README, 'Robust training')"),
             Option("noise", "str", "ball", "uniform in the ball, or gaussian with sigma = epsilon / sqrt(d)",
                    choices=("ball", "gaussian"))),
    objective=lambda model, o: RandomPerturbation(float(o["epsilon"]), str(o["noise"]),
                                                  median_embedding_norm(_needs_model("rs-rp", model)))))


# ------------------------------------------------------------------------------------------- RS-DA

def _synonym_augmentation(pairs, options: dict, seed: int):
    """RS-DA's data: `copies` synonym-substituted copies of every pair (the originals are not added)."""
    from xlr.synonyms import augment, load_neighbors

    neighbors = load_neighbors(options.get("synonyms"))
    augmented, stats = augment(pairs, neighbors, int(options["copies"]), seed=seed)
    return augmented, f"rs-da: {options['copies']} copies per pair; {stats.summary()}"


register(Method(
    "rs-da", "randomized smoothing by synonym-substitution data augmentation",
    options=(Option("copies", "int", 10, "synonym-substituted copies per training pair (paper: 10 PAWS-X, 3 XNLI)"),
             Option("synonyms", "path", None, "a local counterfitted_neighbors.json (default: download, verify "
                    "sha256, cache; or $XLR_SYNONYMS)")),
    objective=lambda model, o: CrossEntropy(),
    transform=_synonym_augmentation))


# ------------------------------------------------------------------------ beyond the paper: FreeLB

class FreeLB(Objective):
    """freelb (Zhu et al., ICLR 2020), beyond the paper: a perturbation delta of the whole sequence's word
    embeddings, bounded in its Frobenius norm per example, moved by K - 1 normalised ascent steps; the
    parameter gradient is the mean of the K gradients at delta_0 ... delta_{K-1}:

        delta_0 = U(-sigma, sigma) / sqrt(N),  N = real tokens x hidden size (zero on padding)
        delta_t = Pi_{||delta||_F <= eps}(delta_{t-1} + alpha g / ||g||_F),  g = grad_delta L(x + delta_{t-1})
        update with (1/K) sum_t grad_theta L(x + delta_t)

    alpha, sigma and eps are fractions of the median word-embedding norm (xlr's unit, as for ADV), so one
    setting means the same for encoders whose embedding norms differ; `max_norm` 0 means no projection. The deltas
    are found with the unwrapped model and gradients w.r.t. delta only (as ADV); the K perturbed copies then
    give the training loss (1/K) sum_t L(x + delta_t). That takes K - 1 extra forward/backward passes over
    FreeLB's own loop.

    `dropout` says which dropout masks the passes draw in training mode. "shared" (the default) is the
    authors' code: one mask set for every ascent step and all K training passes, which run one after another
    with the random-number state restored before each, so the update is the one FreeLB's own loop makes.
    "fresh" puts the K copies through the model in one batch (faster), each copy and each ascent step with its
    own masks; without dropout the two give the same update."""

    name = "freelb"

    def __init__(self, steps: int, adv_lr: float, init_mag: float, max_norm: float, unit: float = 1.0,
                 dropout: str = "shared"):
        if steps < 1:
            raise XlrError(f"freelb steps must be >= 1, not {steps}")
        if dropout not in DROPOUT_MASKS:
            raise XlrError(f"freelb dropout must be one of {', '.join(map(repr, DROPOUT_MASKS))}, not {dropout!r}")
        self.dropout = dropout
        for key, value in (("adv_lr", adv_lr), ("init_mag", init_mag), ("max_norm", max_norm)):
            if value < 0:
                raise XlrError(f"freelb {key} must be >= 0, not {value}")
        self.relative = {"adv_lr": adv_lr, "init_mag": init_mag, "max_norm": max_norm}
        self.unit = unit
        self.steps = steps
        self.adv_lr, self.init_mag, self.max_norm = adv_lr * unit, init_mag * unit, max_norm * unit  # absolute

    def describe(self) -> dict:
        return {"steps": self.steps, **self.relative, "embedding_norm": round(self.unit, 6),
                "max_norm_absolute": round(self.max_norm, 6), "dropout": self.dropout}

    def project(self, delta):
        """Scale each example's delta back into the Frobenius ball of radius max_norm (0: unbounded)."""
        import torch

        if self.max_norm <= 0:
            return delta
        norms = delta.flatten(1).norm(dim=1).view(-1, *[1] * (delta.dim() - 1))
        return delta * torch.clamp(self.max_norm / (norms + 1e-12), max=1.0)

    def perturbations(self, model, inputs: dict) -> list:
        """[delta_0, ..., delta_{K-1}], detached; no parameter .grad is touched."""
        return self.attack(model, inputs)[0]

    def attack(self, model, inputs: dict) -> tuple:
        """([delta_0, ..., delta_{K-1}], the random-number state the passes start from: None unless shared)."""
        import torch

        core = unwrap(model)
        input_ids, rest = _split_inputs(inputs)
        with torch.no_grad():
            e = core.get_input_embeddings()(input_ids)
        mask = token_mask(inputs, e)
        n = (mask.sum(dim=(1, 2)) * e.shape[-1]).clamp_min(1).view(-1, 1, 1)
        delta = self.project((torch.rand_like(e) * 2 - 1) * mask * self.init_mag / n.sqrt())
        state = rng_state(e.device) if self.dropout == "shared" else None
        out = [delta]
        for _ in range(self.steps - 1):
            if state is not None:
                set_rng_state(state, e.device)
            delta = delta.detach().requires_grad_(True)
            loss = core(inputs_embeds=e + delta, **rest).loss
            (grad,) = torch.autograd.grad(loss, delta)
            norm = grad.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-12
            delta = self.project((delta.detach() + self.adv_lr * grad / norm) * mask)
            out.append(delta)
        return [d.detach() for d in out], state

    def loss(self, model, inputs):
        import torch

        deltas, state = self.attack(model, inputs)
        input_ids, rest = _split_inputs(inputs)
        e = unwrap(model).get_input_embeddings()(input_ids)  # with graph: the embeddings are trained too
        k = len(deltas)
        if state is not None:  # one after another, every pass with the attack's masks
            total, first = 0.0, None
            for t, d in enumerate(deltas):
                set_rng_state(state, e.device)
                # the last pass goes through the (possibly DDP-wrapped) model: one backward, one gradient sync
                outputs = (model if t == k - 1 else unwrap(model))(inputs_embeds=e + d, **rest)
                total = total + outputs.loss / k
                first = outputs if first is None else first
            first["loss"] = total
            return total, first
        stacked = {key: v.repeat(k, *[1] * (v.dim() - 1)) for key, v in rest.items()}
        outputs = model(inputs_embeds=torch.cat([e + d for d in deltas]), **stacked)
        outputs["logits"] = outputs.logits[: e.shape[0]]  # the first copy's, one row per example
        return outputs.loss, outputs


# K = 3 is the authors' (their RoBERTa-large MNLI launch script, github zhuchen03/FreeLB, which also has
# alpha : sigma : eps = 1 : 1 : 3). The radius is xlr's measured one, not theirs: eps = 0.04 spreads over a
# 64-token PAWS pair as 0.005 per token, ADV's default chosen on English dev; alpha = sigma = eps / 3 keep
# the authors' ratios. Not tuned for FreeLB (README, "Robust training").
register(Method(
    "freelb", "FreeLB (Zhu et al. 2020): K-step adversarial training, gradients accumulated over the steps",
    options=(Option("steps", "int", 3, "perturbed passes K (K - 1 ascent steps), the parameter gradient "
                    "averaged over them"),
             Option("adv_lr", "float", 0.013, "ascent step size alpha, as a fraction of the median word-embedding "
                    "norm"),
             Option("init_mag", "float", 0.013, "initial magnitude sigma: delta_0 ~ U(-sigma, sigma) / sqrt(tokens "
                    "x hidden), as a fraction of the median word-embedding norm"),
             Option("max_norm", "float", 0.04, "bound eps on each example's whole-sequence Frobenius norm, as a "
                    "fraction of the median word-embedding norm; 0: unbounded"),
             Option("dropout", "str", "shared", "dropout masks of the K passes: shared (one set for all, as the "
                    "authors' code) or fresh (each copy its own, in one batch)", choices=DROPOUT_MASKS)),
    objective=lambda model, o: FreeLB(int(o["steps"]), float(o["adv_lr"]), float(o["init_mag"]),
                                      float(o["max_norm"]), median_embedding_norm(_needs_model("freelb", model)),
                                      o["dropout"]),
    paper=False))


# --------------------------------------------------------------------------- beyond the paper: R3F

class R3F(Objective):
    """r3f (Aghajanyan et al., ICLR 2021), beyond the paper: cross-entropy on the clean input plus lambda
    times the symmetric KL between the clean and the noisy predictions,

        L(f(x), y) + lambda KL_S(f(x) || f(x + z)),  KL_S(P || Q) = KL(P || Q) + KL(Q || P),

    z ~ N(0, sigma^2 I) or U(-sigma, sigma) on the word embeddings (zero on padding; sigma absolute, the
    paper's unit), added to detached embeddings as in the authors' code. Clean and noisy copies go through
    the model in one batch (DDP sees one forward)."""

    name = "r3f"

    def __init__(self, sigma: float, distribution: str, kl_weight: float):
        if sigma < 0 or kl_weight < 0:
            raise XlrError(f"r3f sigma and kl_weight must be >= 0, not {sigma} and {kl_weight}")
        if distribution not in ("normal", "uniform"):
            raise XlrError(f"r3f distribution must be 'normal' or 'uniform', not '{distribution}'")
        self.sigma, self.distribution, self.kl_weight = sigma, distribution, kl_weight

    def describe(self) -> dict:
        return {"sigma": self.sigma, "distribution": self.distribution, "kl_weight": self.kl_weight}

    def noise(self, e, mask):
        import torch

        z = torch.randn_like(e) if self.distribution == "normal" else torch.rand_like(e) * 2 - 1
        return z * self.sigma * mask

    @staticmethod
    def symmetric_kl(logits_p, logits_q):
        """KL(P || Q) + KL(Q || P) per example, from logits (in fp32)."""
        import torch.nn.functional as F

        p, q = F.log_softmax(logits_p.float(), dim=-1), F.log_softmax(logits_q.float(), dim=-1)
        return (p.exp() * (p - q)).sum(-1) + (q.exp() * (q - p)).sum(-1)

    def loss(self, model, inputs):
        import torch
        import torch.nn.functional as F

        input_ids, rest = _split_inputs(inputs)
        labels = rest.pop("labels")
        e = unwrap(model).get_input_embeddings()(input_ids)
        z = self.noise(e, token_mask(inputs, e))
        both = {key: torch.cat([v, v]) for key, v in rest.items()}
        # the noisy copy starts from detached embeddings, as the authors' code (fairseq) does: the embedding
        # matrix learns only through the clean copy
        outputs = model(inputs_embeds=torch.cat([e, e.detach() + z]), **both)
        clean, noisy = outputs.logits.chunk(2)
        loss = F.cross_entropy(clean.float(), labels) + self.kl_weight * self.symmetric_kl(clean, noisy).mean()
        outputs["logits"] = clean
        return loss, outputs


# hyperparameters: sigma = 1e-5, lambda = 1.0 and uniform noise are the defaults of the authors' implementation
# (fairseq, examples/rxf); not tuned here (README, "Robust training")
register(Method(
    "r3f", "R3F (Aghajanyan et al. 2021): embedding noise plus a symmetric KL between clean and noisy predictions",
    options=(Option("sigma", "float", 1e-5, "noise scale on the word embeddings, absolute (R3F's unit)"),
             Option("distribution", "str", "uniform", "U(-sigma, sigma) or N(0, sigma^2)",
                    choices=("uniform", "normal")),
             Option("kl_weight", "float", 1.0, "lambda, the weight of the symmetric KL term")),
    objective=lambda model, o: R3F(float(o["sigma"]), str(o["distribution"]), float(o["kl_weight"])),
    paper=False))
