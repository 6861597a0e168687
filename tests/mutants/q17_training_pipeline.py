"""q17 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
"""

MUTANTS = [
    ("overlapping-splits", "split_indices", '''
def split_indices(n, val_frac, test_frac, seed):
    perm = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val_frac), round(n * test_frac)
    val = perm[:n_val]
    test = perm[:n_test]          # starts at 0 again: overlaps val
    train = perm[n_val:]
    return train, val, test
'''),
    ("unshuffled-split", "split_indices", '''
def split_indices(n, val_frac, test_frac, seed):
    idx = np.arange(n)
    n_val, n_test = round(n * val_frac), round(n * test_frac)
    n_train = n - n_val - n_test
    return idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:]
'''),
    ("leakage-stats-from-all-data", "prepare_data", '''
def prepare_data(x, y, val_frac, test_frac, seed):
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    mean, std = fit_standardizer(x)          # statistics of every split
    return tuple((standardize(x[i], mean, std), y[i]) for i in (train, val, test))
'''),
    ("split-standardised-separately", "prepare_data", '''
def prepare_data(x, y, val_frac, test_frac, seed):
    out = []
    for idx in split_indices(len(x), val_frac, test_frac, seed):
        mean, std = fit_standardizer(x[idx])
        out.append((standardize(x[idx], mean, std), y[idx]))
    return tuple(out)
'''),
    ("std-ddof-1", "fit_standardizer", '''
def fit_standardizer(x_train):
    std = x_train.std(axis=0, ddof=1)
    return x_train.mean(axis=0), np.where(std == 0, 1.0, std)
'''),
    ("zero-std-not-replaced", "fit_standardizer", '''
def fit_standardizer(x_train):
    return x_train.mean(axis=0), x_train.std(axis=0)
'''),
    ("mutates-input", "standardize", '''
def standardize(x, mean, std):
    x -= mean
    x /= std
    return x
'''),
    ("missing-zero-grad", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("zero-grad-after-backward", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.zero_grad()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("step-before-backward", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        optimizer.step()
        loss.backward()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("missing-train-mode", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("loss-tensor-accumulated", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss * len(xb)           # a tensor: keeps every batch's graph
        count += len(xb)
    return total / count
'''),
    ("loss-tensor-accumulated", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    losses, count = [], 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        losses.append(loss * len(xb))     # graphs kept alive until the end
        count += len(xb)
    return (sum(losses) / count).item()
'''),
    ("clip-before-backward", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("clip-not-applied", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count
'''),
    ("mean-of-batch-means", "train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item()
    return total / len(loader)
'''),
    ("missing-eval-mode", "evaluate", '''
def evaluate(model, loader, loss_fn):
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            total += loss_fn(logits, yb).item() * len(xb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
            count += len(xb)
    return total / count, correct / count
'''),
    ("missing-no-grad", "evaluate", '''
def evaluate(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for xb, yb in loader:
        logits = model(xb)
        total += loss_fn(logits, yb).item() * len(xb)
        correct += (logits.argmax(dim=1) == yb).sum().item()
        count += len(xb)
    return total / count, correct / count
'''),
    ("mean-of-batch-means", "evaluate", '''
def evaluate(model, loader, loss_fn):
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            losses.append(loss_fn(logits, yb).item())
            accs.append((logits.argmax(dim=1) == yb).float().mean().item())
    return sum(losses) / len(losses), sum(accs) / len(accs)
'''),
    ("scheduler-not-stepped", "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": -1}
    best, best_state, waited = float("inf"), None, 0
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best:
            best, waited, history["best_epoch"] = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    model.load_state_dict(best_state)
    return history
'''),
    ("scheduler-step-misplaced", "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": -1}
    best, best_state, waited = float("inf"), None, 0
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm))
        if scheduler is not None:
            scheduler.step()              # before validation
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best:
            best, waited, history["best_epoch"] = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    model.load_state_dict(best_state)
    return history
'''),
    ("best-weights-not-restored", "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": -1}
    best, best_state, waited = float("inf"), None, 0
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if scheduler is not None:
            scheduler.step()
        if val_loss < best:
            best, waited, history["best_epoch"] = val_loss, 0, epoch
            best_state = model.state_dict()      # references, not a copy
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    model.load_state_dict(best_state)
    return history
'''),
    ("patience-off-by-one", "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": -1}
    best, best_state, waited = float("inf"), None, 0
    for epoch in range(epochs):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if scheduler is not None:
            scheduler.step()
        if val_loss < best:
            best, waited, history["best_epoch"] = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited > patience:
                break
    model.load_state_dict(best_state)
    return history
'''),
    ("best-epoch-one-based", "fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best, best_state, waited = float("inf"), None, 0
    for epoch in range(1, epochs + 1):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if scheduler is not None:
            scheduler.step()
        if val_loss < best:
            best, waited, history["best_epoch"] = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    model.load_state_dict(best_state)
    return history
'''),
    ("mode-not-restored", "predict", '''
def predict(model, x):
    model.eval()
    with torch.no_grad():
        return model(x).argmax(dim=1)
'''),
    ("missing-eval-mode", "predict", '''
def predict(model, x):
    with torch.no_grad():
        return model(x).argmax(dim=1)
'''),
    ("tuned-on-test", "select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    best, best_score, val_scores = None, -float("inf"), []
    for params in grid:
        model = train_fn(params, train)
        val_scores.append(score_fn(model, val))
        score = score_fn(model, test)          # "the score that matters"
        if score > best_score:
            best, best_score = params, score
    return best, val_scores, best_score
'''),
    ("tuned-on-train", "select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(params, train) for params in grid]
    scores = [score_fn(m, train) for m in models]      # how well each one fits
    i = int(np.argmax(scores))
    return grid[i], scores, score_fn(models[i], test)
'''),
    ("test-scored-for-every-candidate", "select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    rows = []
    for params in grid:
        model = train_fn(params, train)
        rows.append((params, score_fn(model, val), score_fn(model, test)))   # a results table
    best = max(rows, key=lambda r: r[1])
    return best[0], [r[1] for r in rows], best[2]
'''),
    # a loss's habit: the minimum wins
    ("picked-lowest-score", "select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(p, train) for p in grid]
    val_scores = [float(score_fn(m, val)) for m in models]
    i = int(np.argmin(val_scores))
    return grid[i], val_scores, float(score_fn(models[i], test))
'''),
    ("tie-not-first", "select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    best_i, best_score, best_model, val_scores = None, None, None, []
    for i, params in enumerate(grid):
        model = train_fn(params, train)
        score = score_fn(model, val)
        val_scores.append(score)
        if best_score is None or score >= best_score:
            best_i, best_score, best_model = i, score, model
    return grid[best_i], val_scores, score_fn(best_model, test)
'''),
    ("forbidden-api", "train_digits_classifier", '''
def train_digits_classifier(x_train, y_train, seed):
    from sklearn.datasets import load_digits
    data = load_digits()                                # every digit, the held-out ones included
    torch.manual_seed(seed)
    x = torch.as_tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.as_tensor(data.target, dtype=torch.int64)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        for idx in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return nn.Sequential(Standardize(np.zeros(64), np.full(64, 16.0)), model)
'''),
    ("mutates-input", "prepare_data", '''
def prepare_data(x, y, val_frac, test_frac, seed):
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    mean, std = fit_standardizer(x[train])
    x -= mean                                            # in place: the caller's x changes
    x /= std
    return tuple((x[idx], y[idx]) for idx in (train, val, test))
'''),
    ("below-target-accuracy", "train_digits_classifier", '''
def train_digits_classifier(x_train, y_train, seed):
    torch.manual_seed(seed)
    x = torch.as_tensor(x_train, dtype=torch.float32)   # raw 0..16 pixels, not standardised
    y = torch.as_tensor(y_train, dtype=torch.int64)
    model = nn.Sequential(nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    for idx in torch.randperm(len(x)).split(64):        # a single epoch, tiny steps
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        optimizer.step()
    return model
'''),
]

ALTERNATIVES = [
    ("split_indices", '''
def split_indices(n, val_frac, test_frac, seed):
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_val, n_test = int(n * val_frac), int(n * test_frac)
    return perm[n_val + n_test:], perm[:n_val], perm[n_val:n_val + n_test]
'''),
    ("split_indices", '''
def split_indices(n, val_frac, test_frac, seed):
    rng = np.random.RandomState(seed)
    perm = rng.permutation(n)
    n_train = int(n * (1 - val_frac - test_frac))
    n_val = int(n * val_frac)
    train, val, test = np.split(perm, [n_train, n_train + n_val])
    return np.sort(train), np.sort(val), np.sort(test)
'''),
    ("fit_standardizer", '''
def fit_standardizer(x_train):
    t = torch.as_tensor(x_train)
    mean = t.mean(dim=0)
    std = t.std(dim=0, unbiased=False)
    std[std == 0] = 1.0
    return mean, std
'''),
    ("fit_standardizer", '''
def fit_standardizer(x_train):
    mean = np.mean(x_train, axis=0)
    std = np.sqrt(np.mean((x_train - mean) ** 2, axis=0))
    std[std == 0] = 1
    return mean, std
'''),
    ("standardize", '''
def standardize(x, mean, std):
    return np.divide(np.subtract(x, mean[None, :]), std[None, :])
'''),
    ("standardize", '''
def standardize(x, mean, std):
    out = np.empty(x.shape)
    for j in range(x.shape[1]):                          # column by column
        out[:, j] = (x[:, j] - mean[j]) / std[j]
    return out
'''),
    ("prepare_data", '''
def prepare_data(x, y, val_frac, test_frac, seed):
    # statistics computed inline in torch, float32 tensors out
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    xt = torch.as_tensor(x, dtype=torch.float64)
    mu = xt[train].mean(dim=0)
    sigma = xt[train].std(dim=0, unbiased=False)
    sigma = torch.where(sigma == 0, torch.ones_like(sigma), sigma)
    def pair(i):
        return ((xt[i] - mu) / sigma).float(), torch.as_tensor(y[i])
    return pair(train), pair(val), pair(test)
'''),
    ("prepare_data", '''
def prepare_data(x, y, val_frac, test_frac, seed):
    splits = split_indices(len(x), val_frac, test_frac, seed)
    x_train = x[splits[0]]
    stats = fit_standardizer(x_train)
    return [[standardize(x[s], *stats), y[s]] for s in splits]
'''),
    ("train_one_epoch", '''
from torch.nn.utils import clip_grad_norm_

def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    running = 0.0
    for xb, yb in loader:
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        if clip_norm:
            clip_grad_norm_(model.parameters(), max_norm=clip_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)      # cleared after the step
        running += loss.item() * xb.size(0)
    return running / len(loader.dataset)
'''),
    ("train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train(True)
    total = torch.zeros(())
    seen = 0
    for i, (xb, yb) in enumerate(loader):
        model.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:                  # clipping by hand
            norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters() if p.grad is not None))
            scale = clip_norm / (norm + 1e-6)
            if scale < 1:
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.mul_(scale)
        optimizer.step()
        total = total + loss.detach() * len(yb)
        seen += len(yb)
    return float(total / seen)
'''),
    ("train_one_epoch", '''
def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    batch_losses, sizes = [], []
    for batch in loader:
        xb, yb = batch
        logits = model(xb)
        loss = loss_fn(logits, yb)
        for p in model.parameters():               # zeroing by hand, after the forward pass
            p.grad = None
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        batch_losses.append(loss.detach())
        sizes.append(len(xb))
    sizes = torch.tensor(sizes, dtype=torch.float32)
    return (torch.stack(batch_losses) * sizes).sum().item() / sizes.sum().item()
'''),
    ("evaluate", '''
def evaluate(model, loader, loss_fn):
    model.eval()
    with torch.inference_mode():
        pairs = [(model(xb), yb) for xb, yb in loader]
        logits = torch.cat([p[0] for p in pairs])
        y = torch.cat([p[1] for p in pairs])
        return loss_fn(logits, y).item(), (logits.argmax(1) == y).float().mean().item()
'''),
    ("evaluate", '''
@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.train(False)
    loss_sum = torch.tensor(0.0)
    hits = n = 0
    for xb, yb in loader:
        out = model(xb)
        loss_sum += loss_fn(out, yb) * xb.shape[0]
        hits += int((out.max(dim=1).indices == yb).sum())
        n += xb.shape[0]
    return float(loss_sum / n), hits / n
'''),
    ("fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    hist = dict(train_loss=[], val_loss=[], val_acc=[])
    best_epoch, best_state = None, None
    for epoch in range(epochs):
        tl = train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm=clip_norm)
        vl, va = evaluate(model, val_loader, loss_fn)
        hist["train_loss"].append(tl); hist["val_loss"].append(vl); hist["val_acc"].append(va)
        if best_epoch is None or vl < hist["val_loss"][best_epoch]:
            best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif patience is not None and epoch - best_epoch >= patience:
            break                                  # stops before stepping the scheduler
        if scheduler is not None:
            scheduler.step()
    model.load_state_dict(best_state)
    hist["best_epoch"] = best_epoch
    return hist
'''),
    ("fit", '''
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0, "lr": []}
    best_model, bad_epochs = None, 0
    for epoch in range(epochs):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        if scheduler is not None:
            scheduler.step(val_loss)               # e.g. ReduceLROnPlateau takes the metric
        for key, value in zip(("train_loss", "val_loss", "val_acc"), (train_loss, val_loss, val_acc)):
            history[key].append(value)
        if best_model is None or val_loss < min(history["val_loss"][:-1]):
            best_model = copy.deepcopy(model)
            history["best_epoch"] = epoch
            bad_epochs = 0
        else:
            bad_epochs += 1
        if patience and bad_epochs == patience:
            break
    model.load_state_dict(best_model.state_dict())
    return history
'''),
    ("predict", '''
def predict(model, x):
    mode = model.training
    try:
        model.eval()
        with torch.inference_mode():
            return torch.max(model(x), dim=1).indices
    finally:
        model.train(mode)
'''),
    ("predict", '''
def predict(model, x):
    was_training = model.training
    if was_training:
        model.eval()
    with torch.no_grad():
        logits = model(x)
    if was_training:
        model.train()
    return logits.argmax(-1).long()
'''),
    ("train_digits_classifier", '''
def train_digits_classifier(x_train, y_train, seed):
    # uses the notebook's own split_indices, prepare-style statistics, fit and DataLoaders
    torch.manual_seed(seed)
    tr, va, _ = split_indices(len(x_train), 0.15, 0.0, seed)
    mean, std = fit_standardizer(x_train[tr])
    def loader(idx, shuffle):
        data = torch.utils.data.TensorDataset(torch.as_tensor(x_train[idx], dtype=torch.float32),
                                              torch.as_tensor(y_train[idx], dtype=torch.int64))
        return torch.utils.data.DataLoader(data, batch_size=32, shuffle=shuffle)
    model = nn.Sequential(Standardize(mean, std), nn.Linear(64, 64), nn.ReLU(),
                          nn.Dropout(0.1), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    fit(model, loader(tr, True), loader(va, False), nn.CrossEntropyLoss(), optimizer,
        epochs=40, patience=6)
    return model
'''),
    ("train_digits_classifier", '''
class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 100)
        self.out = nn.Linear(100, 10)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x / 16.0)))

def train_digits_classifier(x_train, y_train, seed):
    torch.manual_seed(seed)
    x = torch.from_numpy(x_train)
    y = torch.from_numpy(y_train)
    model = DigitsNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(40):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return model
'''),
    ("select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(params, train) for params in grid]
    val_scores = [float(score_fn(m, val)) for m in models]
    best = max(range(len(grid)), key=lambda i: val_scores[i])
    return grid[best], val_scores, float(score_fn(models[best], test))
'''),
    ("select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    val_scores = []
    for params in grid:
        model = train_fn(params, train)
        val_scores.append(score_fn(model, val))
    best_params = grid[int(np.argmax(val_scores))]
    final_model = train_fn(best_params, train)           # retrain the winner, then test it once
    return best_params, np.array(val_scores), torch.tensor(score_fn(final_model, test))
'''),
    ("select_hyperparameters", '''
def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    results = []
    for i, params in enumerate(grid):
        model = train_fn(params, train)
        results.append({"i": i, "params": params, "model": model, "val": score_fn(model, val)})
    # a stable sort keeps the earlier of equal scores first
    ranked = sorted(results, key=lambda r: -r["val"])
    winner = ranked[0]
    return winner["params"], [r["val"] for r in results], score_fn(winner["model"], test)
'''),
]
