#!/usr/bin/python3
"""PyTorch CPU reference for `npm run bench:native`: the same networks as poi's CE rows, same input
(48x48x1), batch and thread count, timed the same way (warm-up steps, then timed training steps of
forward + backward + SGD update, then timed inference in eval mode). One JSON line per network.

    /usr/bin/python3 bench/torch_reference.py --threads 2 --steps 4 [--only resnet18,vgg]

Needs Debian's python3-torch (apt-get install python3-torch); prints {"error": ...} without it.
"""
import argparse
import json
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the bench treats this as "no PyTorch here"
    print(json.dumps({"error": f"no torch: {e}"}))
    sys.exit(0)


def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """poi's resnet basic block: conv-bn-relu, conv-bn, 1x1 conv-bn shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, stride)
        self.b = conv_bn(cout, cout)
        self.down = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        h = self.b(F.relu(self.a(x)))
        return F.relu(h + (self.down(x) if self.down is not None else x))


class ResNet18(nn.Module):
    """3x3 stem, no max-pool, stages 64-128-256-512 of two blocks (stride 2 from stage 2)."""

    def __init__(self, classes=8, widths=(64, 128, 256, 512)):
        super().__init__()
        self.stem = conv_bn(1, widths[0])
        layers, cin = [], widths[0]
        for s, w in enumerate(widths):
            for i in range(2):
                layers.append(Block(cin, w, 2 if s > 0 and i == 0 else 1))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.stem(x)))
        return self.head(x.mean((2, 3)))


class Vgg(nn.Module):
    """poi's default TRN backbone: stages 32-64-128-256 of conv-bn-relu + 2x2 max-pool, GAP, dense."""

    def __init__(self, classes=8, widths=(32, 64, 128, 256)):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            layers += [conv_bn(cin, w), nn.ReLU(), nn.MaxPool2d(2, 2, ceil_mode=True)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        return self.head(F.dropout(self.features(x).mean((2, 3)), 0.3, self.training))


def bench(name, model, batch, steps):
    x = torch.randn(batch, 1, 48, 48)
    y = torch.arange(batch) % 8
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    train = steps * batch / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
        infer = steps * batch / (time.perf_counter() - t0)
    return {"net": name, "batch": batch, "train": train, "infer": infer}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--vgg-batch", type=int, default=64)
    ap.add_argument("--resnet-batch", type=int, default=32)
    ap.add_argument("--only", default="vgg,resnet18")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    only = a.only.split(",")
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}
    print(json.dumps(info), flush=True)
    if "vgg" in only:
        print(json.dumps(bench("vgg", Vgg(), a.vgg_batch, a.steps)), flush=True)
    if "resnet18" in only:
        print(json.dumps(bench("resnet18", ResNet18(), a.resnet_batch, max(2, a.steps // 2 + 1))), flush=True)


if __name__ == "__main__":
    main()
