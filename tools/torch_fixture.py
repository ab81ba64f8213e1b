"""Write tests/data/torch_cnn.onnx and tests/data/torch_cnn.npz: a small PyTorch CNN exported by torch.onnx.export,
with a batch, its labels, PyTorch's outputs and PyTorch's gradients of the mean cross-entropy (torch.autograd).

Run by hand, in an environment with torch (never by the tests or a default session; the files are committed):

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python tools/torch_fixture.py

tests/test_onnx_torch.py loads the file with refnet.onnx.load and checks refnet's predictions against
onnxruntime, the reference evaluator and PyTorch, and refnet's gradients (its own backward) against PyTorch's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch  # type: ignore[import-not-found, unused-ignore]  # run by hand, where torch is installed
from torch import nn  # type: ignore[import-not-found, unused-ignore]

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "data"


def main() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 8),
        nn.Tanh(),
        nn.Linear(8, 3),
    )
    X = torch.randn(16, 1, 6, 6)
    labels = torch.randint(0, 3, (16,))
    model.eval()
    torch.onnx.export(
        model,
        (X[:1],),
        str(FOLDER / "torch_cnn.onnx"),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    logits = model(X)
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    gradients = {f"grad_{name}": parameter.grad.numpy() for name, parameter in model.named_parameters()}
    np.savez(
        FOLDER / "torch_cnn.npz",
        X=X.numpy(),
        labels=labels.numpy(),
        logits=logits.detach().numpy(),
        loss=np.array(loss.item()),
        torch_version=np.array(torch.__version__),
        **gradients,
    )
    print(f"wrote torch_cnn.onnx and torch_cnn.npz with torch {torch.__version__}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
