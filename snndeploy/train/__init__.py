"""Training: architecture strings, SNN losses, the training loop, checkpoints.

    from snndeploy.train import build_model, fit, make_loader, SumOverTimeCrossEntropy, load_model
    net = build_model("34x34x2-8c3-2p-16c3-2p-10", neuron="iaf", backend="exodus")
    history = fit(net, make_loader(train_set, 32, seed=0), SumOverTimeCrossEntropy(), epochs=3,
                  checkpoint_dir="runs/digits")
    net = load_model("runs/digits")      # latest epoch, weights from safetensors

    run_training("34x34x2-8c3-2p-16c3-2p-10", "runs/digits", data="digits", epochs=3)  # the CLI's
    run_evaluation("runs/digits")        # accuracy and per-layer firing rates
"""

from snndeploy.train.architecture import (
    NEURONS,
    Architecture,
    ModelSpec,
    SpikingSequential,
    build_model,
    load_model_file,
    parse_architecture,
)
from snndeploy.train.checkpoint import (
    Checkpoint,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from snndeploy.train.loop import (
    EpochShuffleSampler,
    evaluate,
    fit,
    make_loader,
    reset_states,
    seed_everything,
)
from snndeploy.train.run import TrainingRun, run_evaluation, run_training
from snndeploy.train.losses import (
    LOSSES,
    MaxOverTimeCrossEntropy,
    SpikeCountMSE,
    SumOverTimeCrossEntropy,
    get_loss,
)

__all__ = [
    "LOSSES", "NEURONS", "Architecture", "Checkpoint", "EpochShuffleSampler",
    "MaxOverTimeCrossEntropy", "ModelSpec", "SpikeCountMSE", "SpikingSequential",
    "SumOverTimeCrossEntropy", "build_model", "evaluate", "fit", "get_loss", "latest_checkpoint",
    "load_checkpoint", "load_model", "load_model_file", "make_loader", "parse_architecture",
    "reset_states", "run_evaluation", "run_training", "save_checkpoint", "seed_everything",
    "TrainingRun",
]
