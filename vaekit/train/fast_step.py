"""The plain MLP VAE's training step with hand-derived gradients: no autograd graph.

For the most used model (MLP encoder and decoder with ReLU between layers, a Bernoulli or
Gaussian likelihood, the standard normal prior, the single-sample beta-ELBO) backpropagation
has a short closed form: the likelihood's gradient at the decoder's output, two matrix products
per layer, and two lines for the reparameterised mean and log-variance. On a 2-core CPU,
autograd's graph, its dozen small kernels for the loss and the KL, and its bookkeeping cost
about as much as those matrix products (BENCHMARKS.md, "Training throughput"), so the trainer
takes this step wherever it computes the same gradients, and autograd everywhere else.

It draws its noise exactly as :func:`vaekit.train.objectives.elbo_loss` does, from the same generator;
the tests check that both give the same loss terms and gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaekit.config.configs import TrainConfig
from vaekit.model.likelihoods import MIN_LOG_SCALE
from vaekit.model.module import VAEModule
from vaekit.train.distributed import World
from vaekit.train.objectives import LossTerms

#: The likelihoods whose gradient at the decoder output is written out below (their values come from
#: ``vaekit.model.likelihoods``, the KL's from the prior: only the gradients are derived here).
LIKELIHOODS = ("bernoulli", "gaussian")


def relu_mlp(net: nn.Module) -> list[nn.Linear] | None:
    """The linear layers of a ``Linear, ReLU, ..., Linear`` stack (as built by ``networks.mlp``), else None."""
    layers = list(net.children()) if isinstance(net, nn.Sequential) else []
    linears, relus = layers[::2], layers[1::2]
    if (len(layers) % 2 == 0 or not all(type(layer) is nn.Linear and layer.bias is not None for layer in linears)
            or not all(type(layer) is nn.ReLU for layer in relus)):
        return None
    return linears


def mlp_forward(linears: list[nn.Linear], x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """The stack's output and each layer's input (what the backward pass multiplies by)."""
    inputs = []
    for i, layer in enumerate(linears):
        inputs.append(x)
        x = torch.addmm(layer.bias, x, layer.weight.t())
        if i < len(linears) - 1:
            x = x.relu_()
    return x, inputs


def mlp_backward(linears: list[nn.Linear], inputs: list[Tensor], grad: Tensor, input_grad: bool) -> Tensor | None:
    """Write every layer's weight and bias gradient into ``.grad`` for the output gradient ``grad``;
    return the gradient of the stack's input if asked for."""
    for i in reversed(range(len(linears))):
        layer, layer_input = linears[i], inputs[i]
        assert layer.weight.grad is not None and layer.bias.grad is not None
        torch.mm(grad.t(), layer_input, out=layer.weight.grad)
        torch.sum(grad, 0, out=layer.bias.grad)
        if i == 0 and not input_grad:
            return None
        grad = grad @ layer.weight
        if i > 0:  # through the ReLU: its output (this layer's input) is positive exactly where it passed
            grad = torch.ops.aten.threshold_backward(grad, layer_input, 0.0)
    return grad


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


class MLPElboStep:
    """Computes one batch's ELBO terms and writes the loss's gradient into the parameters' ``.grad``.

    The loss is ``weight * mean(recon + beta * kl)``, as in the autograd path; the optimizer's step
    is left to the caller.
    """

    def __init__(self, module: VAEModule, encoder: list[nn.Linear], decoder: list[nn.Linear]) -> None:
        self.module, self.encoder, self.decoder = module, encoder, decoder
        self.output_grad = bernoulli_grad if module.config.likelihood == "bernoulli" else gaussian_grad
        self.params = list(module.parameters())
        self.grads = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def __call__(self, x: Tensor, beta: float, generator: torch.Generator | None, weight: float = 1.0) -> LossTerms:
        for param, grad in zip(self.params, self.grads, strict=True):
            param.grad = grad  # the optimizer may have set them to None
        x = x.flatten(1)
        batch, latent = x.shape[0], self.module.latent_dim
        encoded, enc_inputs = mlp_forward(self.encoder, x)
        mu, logvar = encoded[:, :latent], encoded[:, latent:]
        eps = torch.randn((1, batch, latent), generator=generator, dtype=mu.dtype, device=mu.device)[0]
        std = torch.exp(0.5 * logvar)
        z = torch.addcmul(mu, eps, std)
        out, dec_inputs = mlp_forward(self.decoder, z)
        recon = -self.module.likelihood.log_prob(out.view(batch, self.module.likelihood.n_params, -1), x)
        grad_out = self.output_grad(out, x)
        kl = self.module.prior.kl(mu, logvar).sum(1)
        var = std.square()

        scale = weight / batch  # the loss is a batch mean
        grad_z = mlp_backward(self.decoder, dec_inputs, grad_out.mul_(scale), input_grad=True)
        assert grad_z is not None
        # z = mu + eps * std, std = exp(logvar / 2), KL = (mu^2 + var - 1 - logvar) / 2 per dimension, so
        # dL/dmu = dL/dz + c mu and dL/dlogvar = (dL/dz eps std + c (var - 1)) / 2, with c = scale * beta.
        grad_encoded = torch.empty_like(encoded)
        torch.add(grad_z, mu, alpha=scale * beta, out=grad_encoded[:, :latent])
        grad_logvar = grad_z.mul_(eps).mul_(std).add_(var - 1.0, alpha=scale * beta).mul_(0.5)
        grad_encoded[:, latent:] = grad_logvar
        mlp_backward(self.encoder, enc_inputs, grad_encoded, input_grad=False)
        loss = (recon + beta * kl).mean()
        return LossTerms(loss=loss, recon=recon, kl=kl, bound=-(recon + kl))


def mlp_elbo_step(module: VAEModule, config: TrainConfig, world: World) -> MLPElboStep | None:
    """The hand-derived step where it computes exactly the trainer's loss; None where autograd must.

    Masks are decided per batch by the trainer (a batch with a mask takes the autograd path).
    """
    model = module.config
    plain_model = (model.arch == "mlp" and model.likelihood in LIKELIHOODS and model.prior == "normal"
                   and not model.ladder and not model.mask_input)
    plain_objective = (config.iw_samples == 1 and config.grad_estimator == "standard" and config.free_bits == 0
                       and config.capacity is None and config.tc_beta in (None, config.beta))
    plain_engine = world.size == 1 and config.precision == "fp32" and not config.compile
    if not (plain_model and plain_objective and plain_engine):
        return None
    encoder, decoder = relu_mlp(module.encoder[1]), relu_mlp(module.decoder[0])
    if encoder is None or decoder is None:
        return None
    layer_params = {id(p) for layer in encoder + decoder for p in (layer.weight, layer.bias)}
    params = list(module.parameters())
    if {id(p) for p in params} != layer_params or not all(p.requires_grad for p in params):
        return None  # frozen layers (transfer learning) or parameters outside the two stacks
    return MLPElboStep(module, encoder, decoder)
