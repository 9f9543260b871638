"""Which layer goes on which core: an exact search, and an explanation when nothing fits.

A layer may sit on a core when all three of its memory needs (kernel, neuron, bias) fit that
core's memories; each core holds one layer. That is bipartite matching between layers and
cores, so the search is Kuhn's augmenting-path algorithm: it finds an assignment of every
layer whenever one exists (a maximum matching is perfect iff a perfect one exists), in
O(layers · edges). When it fails, the layers explored by the last failed search form a set S
whose allowed cores N(S) are fewer than S (Hall's condition): that set is what the error
names, with the full needed-vs-available table and concrete changes that would make it fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from snndeploy.errors import SnnDeployError
from snndeploy.targets import CoreSpec, MemoryNeed, Target


@dataclass(frozen=True)
class LayerNeed:
    """What one layer is and needs (enough to suggest a smaller version of it)."""

    name: str
    c_in: int
    c_out: int
    kernel_size: int
    neuron_hw: tuple[int, int]
    bias: bool
    need: MemoryNeed


def allowed_cores(needs: list[LayerNeed], cores: tuple[CoreSpec, ...]) -> list[list[int]]:
    """Per layer, positions of the cores it fits, tightest (smallest total memory) first."""
    order = sorted(range(len(cores)), key=lambda j: (cores[j].kernel_memory + cores[j].neuron_memory, cores[j].index))
    return [[j for j in order if layer.need.fits(cores[j])] for layer in needs]


def _augment(layer: int, allowed: list[list[int]], owner: dict[int, int], seen: set[int], visited_layers: set[int]) -> bool:
    visited_layers.add(layer)
    for core in allowed[layer]:
        if core in seen:
            continue
        seen.add(core)
        if core not in owner or _augment(owner[core], allowed, owner, seen, visited_layers):
            owner[core] = layer
            return True
    return False


def find_assignment(needs: list[LayerNeed], target: Target) -> list[int]:
    """Physical core index for each layer; SnnDeployError with the table when none exists."""
    cores = target.cores
    allowed = allowed_cores(needs, cores)
    owner: dict[int, int] = {}
    for layer in range(len(needs)):
        visited: set[int] = set()
        if not _augment(layer, allowed, owner, set(), visited):
            raise SnnDeployError(no_fit_message(needs, target, allowed, sorted(visited)))
    by_layer = {layer: core for core, layer in owner.items()}
    return [cores[by_layer[i]].index for i in range(len(needs))]


def _fits_anywhere(need: MemoryNeed, target: Target) -> list[int]:
    return [core.index for core in target.cores if need.fits(core)]


def suggestions(layer: LayerNeed, target: Target, avoid: set[int] = frozenset()) -> list[str]:
    """Concrete changes after which `layer` fits a core outside `avoid`."""
    out = []
    for c_out in range(layer.c_out - 1, 0, -1):
        need = target.memory_needed(layer.c_in, c_out, layer.kernel_size, layer.neuron_hw, layer.bias)
        fit = [i for i in _fits_anywhere(need, target) if i not in avoid]
        if fit:
            out.append(f"reduce layer {layer.name!r} from {layer.c_out} to {c_out} output channels (-{layer.c_out - c_out}): then fits core {fit[0]}")
            break
    for factor, how in ((2, "stride 2 (or a 2x2 pooling before it)"), (4, "stride 4 (or a 4x4 pooling before it)")):
        hw = (max(1, layer.neuron_hw[0] // factor), max(1, layer.neuron_hw[1] // factor))
        need = target.memory_needed(layer.c_in, layer.c_out, layer.kernel_size, hw, layer.bias)
        fit = [i for i in _fits_anywhere(need, target) if i not in avoid]
        if fit:
            out.append(f"give layer {layer.name!r} {how}: its {layer.neuron_hw[0]}x{layer.neuron_hw[1]} map becomes {hw[0]}x{hw[1]}, "
                       f"neuron memory {need.neuron}, fits core {fit[0]}")
            break
    for c_in in range(layer.c_in - 1, 0, -1):
        need = target.memory_needed(c_in, layer.c_out, layer.kernel_size, layer.neuron_hw, layer.bias)
        fit = [i for i in _fits_anywhere(need, target) if i not in avoid]
        if fit:
            out.append(f"reduce the channels into layer {layer.name!r} from {layer.c_in} to {c_in}: then fits core {fit[0]}")
            break
    return out


def need_table(needs: list[LayerNeed], target: Target) -> str:
    """Per layer: needed kernel/neuron/bias memory, and per core which memory is short."""
    header = f"{'layer':<12} {'kernel':>8} {'neuron':>8} {'bias':>5} | " + " ".join(f"{'core ' + str(c.index):>9}" for c in target.cores)
    avail = f"{'available':<12} {'':>8} {'':>8} {'':>5} | " + " ".join(f"{f'{c.kernel_memory // 1024}K/{c.neuron_memory // 1024}K':>9}" for c in target.cores)
    bias = f"{'bias avail.':<12} {'':>8} {'':>8} {'':>5} | " + " ".join(f"{c.bias_memory:>9}" for c in target.cores)
    lines = [header, avail, bias]
    for layer in needs:
        cells = []
        for core in target.cores:
            short = "".join(letter for letter, ok in (("K", layer.need.kernel <= core.kernel_memory),
                                                       ("N", layer.need.neuron <= core.neuron_memory),
                                                       ("B", layer.need.bias <= core.bias_memory)) if not ok)
            cells.append(f"{'ok' if not short else 'short ' + short:>9}")
        lines.append(f"{layer.name:<12} {layer.need.kernel:>8} {layer.need.neuron:>8} {layer.need.bias:>5} | " + " ".join(cells))
    lines.append("(entries; 'short K/N/B' = kernel / neuron / bias memory too small; available = kernel/neuron memory in Ki, bias in entries)")
    return "\n".join(lines)


def no_fit_message(needs: list[LayerNeed], target: Target, allowed: list[list[int]], group: list[int]) -> str:
    cores = target.cores
    names = [needs[i].name for i in group]
    reachable = sorted({cores[j].index for i in group for j in allowed[i]})
    if any(not allowed[i] for i in group):
        homeless = [needs[i] for i in group if not allowed[i]]
        problem = "layer " + ", ".join(repr(l.name) for l in homeless) + f" fits no core of {target.name}"
        advice = [s for layer in homeless for s in suggestions(layer, target)]
    else:
        problem = (f"layers {names} can only use cores {reachable}: {len(group)} layers for {len(reachable)} cores "
                   f"on {target.name}")
        advice = [s for i in group for s in suggestions(needs[i], target, avoid=set(reachable))]
    text = f"cannot map the network: {problem}.\n{need_table(needs, target)}"
    if advice:
        text += "\nsuggestions:\n" + "\n".join(f"  - {line}" for line in advice)
    return text
