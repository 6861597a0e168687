"""q09 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function or class.
The notebook's setup cell did `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("relu-before-add", "BasicBlock", '''
class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))      # conv-bn-relu, twice
        return F.relu(out + identity)
'''),
    ("missing-final-relu", "BasicBlock", '''
class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return out + identity
'''),
    ("missing-projection", "BasicBlock", '''
class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)                       # the skip is always x itself
'''),
    ("inplace-on-input", "BasicBlock", '''
class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity += out                              # adds into x itself when there is no projection
        return F.relu(identity)
'''),
    ("stride-on-first-conv", "Bottleneck", '''
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = mid_channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)
'''),
    ("conv-has-bias", "BasicBlock", '''
class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)
'''),
    ("stale-gradients-not-cleared", "layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    order = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: order.append(mod) if mod not in order else None)
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    loss = loss_fn(model(x), y)
    loss.backward()
    for h in hooks:
        h.remove()
    return [m.weight.grad.norm().item() for m in order]
'''),
    ("norms-in-registration-order", "layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    model.zero_grad()
    loss_fn(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in model.modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
'''),
    ("wrong-layer-count", "layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    model.zero_grad()
    calls = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append(mod))
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    loss_fn(model(x), y).backward()
    for h in hooks:
        h.remove()
    return [m.weight.grad.norm().item() for m in calls]     # a layer called twice is listed twice
'''),
    # right norms, but the forward hooks stay on the model after the call
    ("hooks-left-behind", "layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    model.zero_grad()
    seen = []
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            m.register_forward_pre_hook(lambda mod, inp: None if any(mod is s for s in seen) else seen.append(mod))
    loss_fn(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in seen]
'''),
    ("wrong-mlp-structure", "make_mlp", '''
def make_mlp(depth, width, residual):
    layer = nn.Linear(width, width)
    if residual:
        class Block(nn.Module):
            def __init__(self, linear):
                super().__init__()
                self.linear = linear
            def forward(self, x):
                return x + F.relu(self.linear(x))
        return nn.Sequential(*[Block(layer) for _ in range(depth)])
    return nn.Sequential(*[layer, nn.ReLU()] * depth)        # one Linear, shared by every layer
'''),
    ("relu-after-add", "make_mlp", '''
class Res(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return F.relu(x + self.fc(x))

def make_mlp(depth, width, residual):
    if residual:
        return nn.Sequential(*[Res(width) for _ in range(depth)])
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())])
'''),
]

ALTERNATIVES = [
    ("BasicBlock", '''
class BasicBlock(nn.Module):
    # torchvision style: in-place ReLU, `out += identity` (into out, not into x)
    expansion = 1

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out
'''),
    ("BasicBlock", '''
class BasicBlock(nn.Module):
    # d2l style, the projection created first, functional ReLU, torch.add
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        use_1x1conv = stride != 1 or in_channels != out_channels
        self.downsample = (nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False),
                                         nn.BatchNorm2d(out_channels)) if use_1x1conv else None)
        self.conv1 = nn.Conv2d(in_channels, out_channels, (3, 3), (stride, stride), (1, 1), bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (3, 3), padding=(1, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.downsample:
            X = self.downsample(X)
        return F.relu(torch.add(Y, X))
'''),
    ("Bottleneck", '''
class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        width = mid_channels
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, mid_channels * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid_channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != mid_channels * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, mid_channels * self.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(mid_channels * self.expansion))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)
'''),
    ("Bottleneck", '''
class Bottleneck(nn.Module):
    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = 4 * mid_channels
        convs = [nn.Conv2d(in_channels, mid_channels, 1, bias=False),
                 nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, bias=False),
                 nn.Conv2d(mid_channels, out_channels, 1, bias=False)]
        for i, (conv, c) in enumerate(zip(convs, (mid_channels, mid_channels, out_channels)), start=1):
            setattr(self, f"conv{i}", conv)
            setattr(self, f"bn{i}", nn.BatchNorm2d(c))
        if stride == 1 and in_channels == out_channels:
            self.downsample = None
        else:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        h = x
        for i in (1, 2, 3):
            h = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h))
            if i < 3:
                h = torch.relu(h)
        skip = x if self.downsample is None else self.downsample(x)
        return torch.relu(h + skip)
'''),
    ("layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    called = []
    def hook(module, inputs, output):
        if all(module is not m for m in called):
            called.append(module)
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    model.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    for h in handles:
        h.remove()
    return [m.weight.grad.norm().item() for m in called]
'''),
    ("layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    for p in model.parameters():
        p.grad = None
    order = {}
    handles = []

    def remember(name):
        def hook(mod, inp):
            order.setdefault(name, mod)     # a pre-hook must return None, or it replaces the input
        return hook

    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d, nn.Conv3d)):
            handles.append(m.register_forward_pre_hook(remember(name)))
    out = model(x)
    for h in handles:
        h.remove()
    loss_fn(out, y).backward()
    return [float(torch.linalg.vector_norm(m.weight.grad)) for m in order.values()]
'''),
    ("layer_gradient_norms", '''
def layer_gradient_norms(model, x, y, loss_fn):
    model.zero_grad(set_to_none=False)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, i: seen.append(m) if not any(m is s for s in seen) else None)
             for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    try:
        loss_fn(model(x), y).backward()
    finally:
        for h in hooks:
            h.remove()
    return [torch.sqrt((m.weight.grad ** 2).sum()).item() for m in seen]
'''),
    ("make_mlp", '''
class MLP(nn.Module):
    def __init__(self, depth, width, residual):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.residual = residual

    def forward(self, x):
        for layer in self.layers:
            h = F.relu(layer(x))
            x = x + h if self.residual else h
        return x

def make_mlp(depth, width, residual):
    return MLP(depth, width, residual)
'''),
    ("make_mlp", '''
from collections import OrderedDict

class ResidualBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(width, width), nn.ReLU())

    def forward(self, x):
        return x + self.body(x)

def make_mlp(depth, width, residual):
    if residual:
        return nn.Sequential(OrderedDict((f"block{i}", ResidualBlock(width)) for i in range(depth)))
    layers = OrderedDict()
    for i in range(depth):
        layers[f"fc{i}"] = nn.Linear(width, width)
        layers[f"act{i}"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)
'''),
]
