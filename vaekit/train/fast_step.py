"""The plain MLP VAE's single-sample ELBO with hand-derived gradients, behind autograd's interface.

For the most used model (MLP encoder and decoder with ReLU between layers, a Bernoulli or
Gaussian likelihood, the standard normal prior, the single-sample beta-ELBO) backpropagation
has a short closed form: the likelihood's gradient at the decoder's output, two matrix products
per layer, and two lines for the reparameterised mean and log-variance. On a 2-core CPU,
autograd's graph, its dozen small kernels for the loss and the KL, and its bookkeeping cost
about as much as those matrix products (BENCHMARKS.md, "Training throughput").

:class:`FastElbo` computes the loss in a ``torch.autograd.Function`` whose backward is that
closed form, so the trainer runs one step for every objective (``loss.backward()``, then the
optimiser). Which runs may use it is declared positively, field by field (:func:`supports`): the
values of each setting the formula is derived for, and the settings that do not change it. Any
other value, and any field added to the configurations later, takes autograd.

With ``precision="bf16"`` the matrix products run in bfloat16 as autocast would run them (the
weights cast once per step, float32 kept for the posterior, the likelihood, the KL and the
parameters' gradients): on CPUs with bf16 units (AVX-512 BF16, AMX) the products, which are
most of the step, take half the time.

The noise and the posterior sample come from ``vaekit.model.posterior`` in the same order as
:func:`vaekit.train.objectives.elbo_loss` draws them; the likelihood's and the KL's values come
from the likelihood and the prior. Only the gradients are derived here, and the tests check them
against autograd's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from vaekit.config.configs import ModelConfig, TrainConfig
from vaekit.model.likelihoods import MIN_LOG_SCALE
from vaekit.model.module import VAEModule
from vaekit.model.networks import MLP
from vaekit.model.posterior import draw_noise, reparameterize
from vaekit.train.distributed import World
from vaekit.train.objectives import LossTerms


def bernoulli_grad(logits: Tensor, x: Tensor) -> Tensor:
    """Gradient of -log p(x|z) with respect to the logits."""
    return torch.sigmoid(logits).sub_(x)


def gaussian_grad(params: Tensor, x: Tensor) -> Tensor:
    """Gradient of -log p(x|z) with respect to the (location, raw log-scale) outputs."""
    n = x.shape[1]
    loc, raw_log_scale = params[:, :n], params[:, n:]
    inv_scale = torch.exp(-raw_log_scale.clamp(min=MIN_LOG_SCALE))
    residual = (x - loc) * inv_scale
    grad_log_scale = torch.where(raw_log_scale >= MIN_LOG_SCALE, 1.0 - residual.square(), 0.0)  # the floor passes none
    return torch.cat([-(residual * inv_scale), grad_log_scale], 1)


#: The likelihoods whose gradient at the decoder output is written out above.
OUTPUT_GRADIENTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"bernoulli": bernoulli_grad,
                                                                   "gaussian": gaussian_grad}

#: Allowed values of a setting, or a function of the whole configuration that gives them.
Allowed = Collection[Any] | Callable[[Any], Collection[Any]]

#: The model the closed form is derived for: each setting and its allowed values.
MODEL_SETTINGS: dict[str, Allowed] = {
    "arch": ("mlp",),
    "likelihood": tuple(OUTPUT_GRADIENTS),
    "prior": ("normal",),  # its KL is analytic, and it has no parameters
    "prior_components": (None,),
    "ladder": ((),),
    "ladder_inference": ("top-down",),  # the only value without a ladder
    "mask_input": (False,),
    "column_types": ((),),
    "n_categories": ((),),
    "encoder": (None,),  # the closed form walks vaekit's own MLPs
    "decoder": (None,),
}
#: Model settings that change sizes, or (other architectures' and likelihoods' own settings) nothing in
#: an MLP with these likelihoods: not the formula.
MODEL_NEUTRAL = frozenset({"input_shape", "hidden", "latent_dim", "channels", "mixture_components", "res_width",
                           "res_blocks", "res_stages", "latent_groups", "latent_channels"})

#: The objective and engine the closed form is derived for.
TRAIN_SETTINGS: dict[str, Allowed] = {
    "iw_samples": (1,),
    "grad_estimator": ("standard",),
    "free_bits": (0.0,),
    "capacity": (None,),
    "tc_beta": lambda config: (None, config.beta),  # a TC weight equal to beta adds nothing
    "precision": ("fp32", "bf16"),  # bf16: the matrix products in bfloat16, as autocast runs them
    "compile": (False,),
}
#: Training settings the formula does not depend on: the loss takes beta times the KL schedule's
#: factor; data order, binarisation, learning rate and stopping act outside the loss; frozen
#: parameters simply get no gradient; the capacity's schedule is read only with a capacity.
TRAIN_NEUTRAL = frozenset({
    "epochs", "batch_size", "lr", "lr_schedule", "beta", "kl_schedule", "kl_warmup", "binarize", "val_fraction",
    "patience", "seed", "device", "workers", "init_from", "freeze", "capacity_epochs", "capacity_gamma",
    "grad_clip", "grad_skip",  # the gradient guard acts on the gradients, after the loss's backward
})


def declared(config: Any, allowed: Mapping[str, Allowed], neutral: Collection[str]) -> bool:
    """True where every field of ``config`` is neutral or has one of its allowed values."""
    for field in dataclasses.fields(config):
        if field.name in neutral:
            continue
        if field.name not in allowed:
            return False  # a setting nobody derived the formula for
        values = allowed[field.name]
        if callable(values):
            values = values(config)
        if getattr(config, field.name) not in values:
            return False
    return True


def supports(model: ModelConfig, train: TrainConfig) -> bool:
    """Whether the hand-derived gradients are exactly the loss's for these configurations."""
    return declared(model, MODEL_SETTINGS, MODEL_NEUTRAL) and declared(train, TRAIN_SETTINGS, TRAIN_NEUTRAL)


def mlp_forward(params: Sequence[Tensor], x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """An MLP's output for its (weight, bias, weight, bias, ...) and each layer's input."""
    inputs = []
    n_layers = len(params) // 2
    for i in range(n_layers):
        inputs.append(x)
        x = torch.addmm(params[2 * i + 1], x, params[2 * i].t())
        if i < n_layers - 1:
            x = x.relu_()
    return x, inputs


def mlp_backward(
    params: Sequence[Tensor], inputs: list[Tensor], grad: Tensor, needs: Sequence[bool], input_grad: bool
) -> tuple[list[Tensor | None], Tensor | None]:
    """Gradients of the parameters where ``needs`` says so (None elsewhere) for the output gradient
    ``grad``, and of the MLP's input if ``input_grad``; layers below everything needed are skipped."""
    n_layers = len(params) // 2
    grads: list[Tensor | None] = [None] * len(params)
    lowest = 0 if input_grad else next((i // 2 for i, need in enumerate(needs) if need), n_layers)
    for i in reversed(range(lowest, n_layers)):
        weight, layer_input = params[2 * i], inputs[i]
        if needs[2 * i]:
            grads[2 * i] = torch.mm(grad.t(), layer_input)
        if needs[2 * i + 1]:
            grads[2 * i + 1] = grad.sum(0)
        if i > lowest or input_grad:
            grad = grad @ weight
            if i > 0:  # through the ReLU: its output (this layer's input) is positive exactly where it passed
                grad = torch.ops.aten.threshold_backward(grad, layer_input, 0.0)
    return grads, grad if input_grad else None


@dataclasses.dataclass
class _Saved:
    """What the backward pass needs from the forward pass."""

    x: Tensor
    out: Tensor
    mu: Tensor
    logvar: Tensor
    eps: Tensor
    enc_inputs: list[Tensor]
    dec_inputs: list[Tensor]
    params: Sequence[Tensor]
    beta: float


class _ElboFunction(torch.autograd.Function):
    """loss = mean(recon + beta * kl) over the batch, and per-example recon, kl and ELBO (not differentiable)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, beta: float, generator: torch.Generator | None, elbo: FastElbo, *params: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        module, dtype = elbo.module, elbo.dtype
        x = x.flatten(1)
        batch, latent = x.shape[0], module.latent_dim
        params = tuple(p.to(dtype) for p in params)  # no copy in float32
        encoded, enc_inputs = mlp_forward(params[: elbo.n_encoder], x.to(dtype))
        encoded = encoded.to(elbo.param_dtype)  # the posterior, likelihood and KL in full precision, as autocast
        mu, logvar = encoded[:, :latent], encoded[:, latent:]
        eps = draw_noise(mu, 1, generator)[0]  # as sample_posterior draws k = 1
        out, dec_inputs = mlp_forward(params[elbo.n_encoder :], reparameterize(mu, logvar, eps).to(dtype))
        out = out.to(elbo.param_dtype)
        recon = -module.likelihood.log_prob(out.view(batch, module.likelihood.n_params, -1), x)
        kl = module.prior.kl(mu, logvar).sum(1)
        ctx.saved = _Saved(x, out, mu, logvar, eps, enc_inputs, dec_inputs, params, beta)
        ctx.elbo = elbo
        bound = -(recon + kl)
        ctx.mark_non_differentiable(recon, kl, bound)
        return (recon + beta * kl).mean(), recon, kl, bound

    @staticmethod
    def backward(ctx: Any, grad_loss: Tensor, *unused: Tensor) -> tuple[Tensor | None, ...]:
        s, elbo = ctx.saved, ctx.elbo
        del ctx.saved  # the activations are not needed again
        needs = ctx.needs_input_grad[4:]
        enc_needs, dec_needs = needs[: elbo.n_encoder], needs[elbo.n_encoder :]
        params, dtype = s.params, elbo.dtype
        scale = float(grad_loss) / s.x.shape[0]  # the loss is a batch mean; a float folds into the kernels below
        grad_out = elbo.output_grad(s.out, s.x).mul_(scale).to(dtype)
        dec_grads, grad_z = mlp_backward(params[elbo.n_encoder :], s.dec_inputs, grad_out, dec_needs,
                                         input_grad=any(enc_needs))
        enc_grads: list[Tensor | None] = [None] * elbo.n_encoder
        if grad_z is not None:
            # z = mu + eps * std, std = exp(logvar / 2), KL = (mu^2 + var - 1 - logvar) / 2 per dimension, so
            # dL/dmu = dL/dz + c mu and dL/dlogvar = (dL/dz eps std + c (var - 1)) / 2, with c = scale * beta.
            c = scale * s.beta
            grad_z = grad_z.to(elbo.param_dtype)
            std = torch.exp(0.5 * s.logvar)
            grad_mu = torch.add(grad_z, s.mu, alpha=c)
            grad_logvar = grad_z.mul_(s.eps).mul_(std).add_(std.square().sub_(1.0), alpha=c).mul_(0.5)  # grad_z spent
            grad_encoded = torch.cat([grad_mu, grad_logvar], 1).to(dtype)
            enc_grads, _ = mlp_backward(params[: elbo.n_encoder], s.enc_inputs, grad_encoded, enc_needs,
                                        input_grad=False)
        grads = (None if g is None else g.to(elbo.param_dtype) for g in (*enc_grads, *dec_grads))
        return (None, None, None, None, *grads)


class FastElbo:
    """``fast(x, beta, generator)``: the loss terms of :func:`vaekit.train.objectives.elbo_loss` for a batch
    without a mask, whose ``loss.backward()`` runs the hand-derived gradients.

    It works from the layers the networks name (``encoder.layers``, ``decoder.layers``); build it with
    :func:`fast_elbo`, which checks that it applies.
    """

    def __init__(self, module: VAEModule, precision: str = "fp32") -> None:
        self.module = module
        self.params = tuple(p for net in (module.encoder, module.decoder) for layer in net.layers
                            for p in (layer.weight, layer.bias))
        self.n_encoder = 2 * len(module.encoder.layers)
        self.output_grad = OUTPUT_GRADIENTS[module.config.likelihood]
        self.param_dtype = self.params[0].dtype
        #: The matrix products' dtype: the parameters' own, or bfloat16 for ``precision="bf16"``.
        self.dtype = torch.bfloat16 if precision == "bf16" else self.param_dtype

    def __call__(self, x: Tensor, beta: float, generator: torch.Generator | None) -> LossTerms:
        loss, recon, kl, bound = _ElboFunction.apply(x, beta, generator, self, *self.params)
        return LossTerms(loss=loss, recon=recon, kl=kl, bound=bound)


def fast_elbo(module: VAEModule, config: TrainConfig, world: World) -> FastElbo | None:
    """The hand-derived ELBO where it declares the run's settings (and the run is one process); else None."""
    if not (supports(module.config, config) and world.size == 1):
        return None
    if not (isinstance(module.encoder, MLP) and isinstance(module.decoder, MLP)):
        return None  # a network built by other code than vaekit.model.networks
    fast = FastElbo(module, config.precision)
    if {id(p) for p in module.parameters()} != {id(p) for p in fast.params}:
        return None  # parameters outside the two MLPs would get no gradient
    return fast
