"""q12 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    ("softmax-in-model", "build_cnn", '''
def build_cnn(num_classes=10, in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 112
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),            # 56
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),            # 14
        nn.Flatten(),
        nn.Linear(64 * 14 * 14, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
        nn.Softmax(dim=1),            # class probabilities out
    )
'''),
    ("softmax-in-model", "build_cnn", '''
class Classifier(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 5, stride=2, padding=2)   # 112
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 28 * 28, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 56
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # 28
        return F.log_softmax(self.fc(x.flatten(1)), dim=1)

def build_cnn(num_classes=10, in_channels=3):
    return Classifier(num_classes, in_channels)
'''),
    ("flatten-size-wrong", "build_cnn", '''
class ConvNet(nn.Module):
    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        # 224 -> 112 -> 56 -> 28 ... counted one pooling too few
        self.fc1 = nn.Linear(64 * 56 * 56, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))

def build_cnn(num_classes=10, in_channels=3):
    return ConvNet(num_classes, in_channels)
'''),
    ("flatten-size-wrong", "cnn_output_shapes", '''
def cnn_output_shapes(spec, input_shape):
    b, c, h, w = input_shape
    shapes, flat = [], None
    for layer in spec:
        if layer[0] == "conv":
            _, c, k, s, p = layer
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            shapes.append((b, c, h, w))
        elif layer[0] == "pool":
            _, k, s = layer
            h, w = (h - k) // s + 1, (w - k) // s + 1
            shapes.append((b, c, h, w))
        elif layer[0] == "flatten":
            flat = h * w                      # the pixels of one feature map
            shapes.append((b, flat))
        else:
            flat = layer[1]
            shapes.append((b, flat))
    return shapes
'''),
    ("cannot-learn", "build_cnn", '''
class LazyHeadCNN(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 4)   # 56
        x = F.max_pool2d(F.relu(self.conv2(x)), 4)   # 14
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)   # 7
        x = x.flatten(1)
        # size the classifier from the data, so that no arithmetic is needed
        self.fc = nn.Linear(x.shape[1], self.num_classes)
        return self.fc(x)

def build_cnn(num_classes=10, in_channels=3):
    return LazyHeadCNN(num_classes, in_channels)
'''),
    ("too-many-parameters", "build_cnn", '''
def build_cnn(num_classes=10, in_channels=3):
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # 56 x 56
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),                                                    # 28 x 28
        nn.Flatten(),
        nn.Linear(32 * 28 * 28, 256), nn.ReLU(),                            # 25088 x 256 = 6.4 M
        nn.Linear(256, num_classes),
    )
'''),
    ("pool-off-by-one", "cnn_output_shapes", '''
def cnn_output_shapes(spec, input_shape):
    shape = list(input_shape)
    out = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            _, ch, k, s, p = layer
            shape = [shape[0], ch] + [(d + 2 * p - k) // s + 1 for d in shape[2:]]
        elif kind == "pool":
            _, k, s = layer
            shape = shape[:2] + [d // s for d in shape[2:]]     # pooling divides by the stride
        elif kind == "flatten":
            shape = [shape[0], int(np.prod(shape[1:]))]
        elif kind == "fc":
            shape = [shape[0], layer[1]]
        out.append(tuple(shape))
    return out
'''),
    ("counts-frozen", "count_parameters", '''
def count_parameters(model):
    total = 0
    for p in model.parameters():
        total += p.numel()
    return total
'''),
    ("counts-buffers", "count_parameters", '''
def count_parameters(model):
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n += sum(b.numel() for b in model.buffers())     # running stats are weights too
    return n
'''),
    ("mutates-input", "layer_shapes", '''
def layer_shapes(model, input_shape):
    out, hooks = [], []
    for name, m in model.named_modules():
        if len(list(m.children())) == 0:
            hooks.append(m.register_forward_hook(
                lambda mod, inp, o, name=name: out.append((name, tuple(o.shape)))))
    model(torch.randn(*input_shape))      # in whatever mode the model is in
    for h in hooks:
        h.remove()
    return out
'''),
    ("one-entry-per-module", "layer_shapes", '''
import copy

def layer_shapes(model, input_shape):
    net = copy.deepcopy(model).eval()
    shapes = {}
    for n, m in net.named_modules():
        if not list(m.children()):
            m.register_forward_hook(lambda mod, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
    with torch.no_grad():
        net(torch.zeros(input_shape))
    return list(shapes.items())
'''),
    ("includes-containers", "layer_shapes", '''
def layer_shapes(model, input_shape):
    records = []
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: records.append((n, tuple(o.shape))))
               for n, m in model.named_modules()]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_shape))
    for m, mode in modes.items():
        m.train(mode)
    for h in handles:
        h.remove()
    return records
'''),
]

ALTERNATIVES = [
    # -- build_cnn ---------------------------------------------------------------------------------
    ("build_cnn", '''
class VGGish(nn.Module):
    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc1 = nn.Linear(128 * 28 * 28 // 4, 32)    # after a last 2x2 pool: 128 x 14 x 14
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 112
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # 56
        x = F.max_pool2d(F.relu(self.conv3(x)), 4)   # 14
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))

def build_cnn(num_classes=10, in_channels=3):
    return VGGish(num_classes, in_channels)
'''),
    ("build_cnn", '''
def build_cnn(num_classes=10, in_channels=3):
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(
        nn.Conv2d(in_channels, 24, 7, stride=2, padding=3), nn.BatchNorm2d(24), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),                                # 56 x 56
        *block(24, 48), *block(48, 96), *block(96, 192),                     # 7 x 7
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),                               # global average pool
        nn.Dropout(0.2),
        nn.Linear(192, num_classes),
    )
'''),
    ("build_cnn", '''
def build_cnn(num_classes=10, in_channels=3):
    # LazyLinear infers the flattened size at the first forward pass
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.LazyLinear(64), nn.ReLU(), nn.Linear(64, num_classes),
    )
'''),
    # -- layer_shapes ------------------------------------------------------------------------------
    ("layer_shapes", '''
import copy

def layer_shapes(model, input_shape):
    # work on a copy: whatever happens to it, the caller's model is untouched
    m = copy.deepcopy(model).eval()
    out = []
    for name, mod in m.named_modules():
        if len(list(mod.children())) == 0:
            mod.register_forward_hook(lambda mod, inp, o, name=name: out.append((name, tuple(o.shape))))
    with torch.inference_mode():
        m(torch.zeros(*input_shape))
    return out
'''),
    ("layer_shapes", '''
def layer_shapes(model, input_shape):
    names = {id(m): n for n, m in model.named_modules() if not any(True for _ in m.children())}
    seen = []

    def hook(module, args, output):
        if id(module) in names:
            seen.append((names[id(module)], torch.Size(output.shape)))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.randn(input_shape))
    finally:
        handle.remove()
        for m, t in modes:
            m.training = t
    return seen
'''),
    # -- cnn_output_shapes -------------------------------------------------------------------------
    ("cnn_output_shapes", '''
import math

def cnn_output_shapes(spec, input_shape):
    B, C, H, W = input_shape
    shapes = []
    for layer in spec:
        if layer[0] == "conv":
            _, C, k, s, p = layer
            H = math.floor((H + 2 * p - k) / s) + 1
            W = math.floor((W + 2 * p - k) / s) + 1
            shapes.append((B, C, H, W))
        elif layer[0] == "pool":
            _, k, s = layer
            H = math.floor((H - k) / s) + 1
            W = math.floor((W - k) / s) + 1
            shapes.append((B, C, H, W))
        elif layer[0] == "flatten":
            features = C * H * W
            shapes.append((B, features))
        elif layer[0] == "fc":
            features = layer[1]
            shapes.append((B, features))
    return shapes
'''),
    ("cnn_output_shapes", '''
def cnn_output_shapes(spec, input_shape):
    def out_size(n, k, s, p=0):
        return (n - k + 2 * p) // s + 1

    shape = np.array(input_shape)
    result = []
    for entry in spec:
        op, *args = entry
        if op == "conv":
            ch, k, s, p = args
            shape = np.array([shape[0], ch, out_size(shape[2], k, s, p), out_size(shape[3], k, s, p)])
        elif op == "pool":
            k, s = args
            shape = np.array([shape[0], shape[1], out_size(shape[2], k, s), out_size(shape[3], k, s)])
        elif op == "flatten":
            shape = np.array([shape[0], shape[1:].prod()])
        else:
            shape = np.array([shape[0], args[0]])
        result.append(tuple(int(d) for d in shape))
    return result
'''),
    # -- count_parameters --------------------------------------------------------------------------
    ("count_parameters", '''
def count_parameters(model):
    return sum(p.numel() for p in filter(lambda p: p.requires_grad, model.parameters()))
'''),
    ("count_parameters", '''
def count_parameters(model):
    seen, total = set(), 0
    for name, p in model.named_parameters():
        if p.requires_grad and id(p) not in seen:      # a shared weight counts once
            seen.add(id(p))
            total += int(np.prod(p.shape))
    return total
'''),
]
