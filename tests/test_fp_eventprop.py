"""Cross-check of the two exact trainers: FP (snndeploy.fp) and EventProp (snndeploy.eventprop)
give the same spike times and the same dL/dW on the same network and input.

Mapping: EventProp's τm dV/dt = −V + I, τs dI/dt = −I, I += w per input spike has the PSP
w·τs/(τm − τs)(e^{−t/τm} − e^{−t/τs}) = (w/τm)·K(t) with FP's K; so W_fp = w_ep.T / τm. Its reset
to 0 at V = ϑ equals FP's subtraction of ϑ. EventProp detects crossings at step ends, so its
only discretisation error is a crossing that starts and ends inside one step: it vanishes once
dt is below the shortest excursion above threshold.
"""

import torch
from torch import nn

from snndeploy.eventprop import EventPropLIF, FirstSpikeTime, SpikeTrain
from snndeploy.fp import FPNetwork, NeuronParameters, first_spike_loss

TAU_SYN, TAU_MEM, DURATION = 1.0, 2.0, 20.0


def eventprop_gradients(fp, inputs, labels, dt):
    first = EventPropLIF(5, 8, tau_mem=TAU_MEM, tau_syn=TAU_SYN).double()
    second = EventPropLIF(8, 3, tau_mem=TAU_MEM, tau_syn=TAU_SYN).double()
    with torch.no_grad():
        first.weight.copy_(TAU_MEM * fp.weights[0].T)
        second.weight.copy_(TAU_MEM * fp.weights[1].T)
    model = nn.Sequential(first, second, FirstSpikeTime())
    times = model(SpikeTrain.from_times(inputs, num_steps=round(DURATION / dt), dt=dt))
    first_spike_loss(times, labels, 1.0, 1.0, 0.1, DURATION).backward()
    return times.detach(), [TAU_MEM * first.weight.grad.T, TAU_MEM * second.weight.grad.T]


def test_fp_and_eventprop_agree_and_eventprop_error_vanishes_as_dt_shrinks():
    params = NeuronParameters(alpha=1 / TAU_SYN, beta=1 / TAU_MEM, theta=1.0)
    fp = FPNetwork([5, 8, 3], params, hidden_init=[(1.0, 0.33)], output_init=(0.3, 0.1),
                   max_spikes=[16, 1], t_max=DURATION, seed=0)
    torch.manual_seed(0)
    inputs = torch.rand(4, 5, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 2, 0])
    times = fp(inputs)
    first_spike_loss(times, labels, 1.0, 1.0, 0.1, DURATION).backward()
    assert fp.last_stats["spike_counts"][0].max() >= 3  # hidden neurons fire several times
    assert torch.isfinite(times).all()

    errors = []
    for dt in (5.0, 1.0, 0.1):
        ep_times, ep_grads = eventprop_gradients(fp, inputs, labels, dt)
        error = max(
            (torch.linalg.norm(a - w.grad) / torch.linalg.norm(w.grad)).item()
            for a, w in zip(ep_grads, fp.weights)
        )
        errors.append(error)
        if dt <= 1.0:
            assert torch.allclose(ep_times, times.detach(), rtol=0, atol=1e-12)
    assert errors[0] > 1e-3  # dt = 5 misses crossings inside a step
    assert errors[1] < 1e-10 and errors[2] < 1e-10
