"""The data sources: generated data is balanced, seeded and shaped as documented;
CIFAR-10 and ImageNet are read from small files written here in their real
on-disk formats, and CIFAR-10's pickles are verified before they are opened."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import pickle
import random
import struct
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from frivolous import data
from frivolous.data import cifar10
from frivolous.data.sampling import split_labels, stratified_sample

TRAIN_PER_FILE, TEST_SIZE, VAL_SIZE = 12, 10, 10


# ---------------------------------------------------------------- registry


def test_registry_errors() -> None:
    assert data.datasets() == ["cifar10", "imagenet", "mnist1d", "teacher"]
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar'.*'cifar10', 'imagenet', 'mnist1d', 'teacher'"):
        data.load("cifar")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_trian'\].*'n_train', 'n_val', 'n_test'"):
        data.load("teacher", n_trian=10)
    with pytest.raises(ValueError, match="n_train must be at least 1, got 0"):
        data.load("teacher", n_train=0)


# ---------------------------------------------------------------- teacher


@pytest.mark.parametrize("seed", range(5))
def test_teacher_labels_are_balanced(seed: int) -> None:
    bundle = data.load("teacher", seed=seed)
    share = bundle.train.labels.float().mean().item()
    assert 0.4 <= share <= 0.6
    for split in (bundle.val, bundle.test):  # not checked by the loader, but from the same teacher
        assert 0.3 <= split.labels.float().mean().item() <= 0.7


def test_teacher_shapes() -> None:
    bundle = data.load("teacher", n_train=100, n_val=0, n_test=30, input_dim=10_000)
    assert bundle.train.inputs.shape == (100, 10_000) and bundle.train.inputs.dtype == torch.float32
    assert bundle.train.labels.dtype == torch.int64 and set(bundle.train.labels.tolist()) == {0, 1}
    assert len(bundle.test) == 30 and bundle.val is None
    assert (bundle.num_classes, bundle.input_shape, bundle.augment) == (2, (10_000,), None)


def test_teacher_is_seeded() -> None:
    a, b, c = (data.load("teacher", seed=seed, n_train=200) for seed in (1, 1, 2))
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, split).inputs, getattr(b, split).inputs)
        assert torch.equal(getattr(a, split).labels, getattr(b, split).labels)
        assert not torch.equal(getattr(a, split).inputs, getattr(c, split).inputs)
    assert not torch.equal(a.train.inputs, a.test.inputs[:200])


def test_teacher_labels_in_chunks_as_in_one_product() -> None:
    from frivolous.data.teacher import CHUNK, Teacher

    teacher = Teacher(20, torch.Generator().manual_seed(3))
    inputs = torch.randn(2 * CHUNK + 5, 20, generator=torch.Generator().manual_seed(4))
    whole = (torch.relu(inputs.double() @ teacher.hidden.T) @ teacher.out.T).argmax(dim=1)
    assert torch.equal(teacher(inputs), whole) and 0 < int(whole.sum()) < len(whole)


def test_teacher_refuses_an_unbalanceable_training_set() -> None:
    with pytest.raises(ValueError, match="n_train=3 cannot be balanced"):
        data.load("teacher", n_train=3)


# ---------------------------------------------------------------- MNIST-1D


@pytest.fixture(scope="module")
def mnist1d() -> data.DataBundle:
    return data.load("mnist1d", seed=3, num_samples=500)


def test_mnist1d_shapes(mnist1d: data.DataBundle) -> None:
    assert (len(mnist1d.train), len(mnist1d.val), len(mnist1d.test)) == (360, 40, 100)
    assert mnist1d.train.inputs.shape == (360, 1, 40) and mnist1d.train.inputs.dtype == torch.float32
    assert mnist1d.test.labels.dtype == torch.int64
    assert set(mnist1d.train.labels.tolist()) == set(range(10)) and mnist1d.num_classes == 10
    assert mnist1d.input_shape == (1, 40)


def test_mnist1d_is_seeded_and_leaves_global_rngs_alone(mnist1d: data.DataBundle) -> None:
    np.random.seed(123)
    random.seed(456)
    numpy_before, python_before = np.random.get_state(), random.getstate()
    again, other = data.load("mnist1d", seed=3, num_samples=500), data.load("mnist1d", seed=4, num_samples=500)
    numpy_after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(numpy_before, numpy_after))
    assert random.getstate() == python_before
    assert torch.equal(again.train.inputs, mnist1d.train.inputs) and torch.equal(again.val.labels, mnist1d.val.labels)
    assert not torch.equal(other.train.inputs, mnist1d.train.inputs)


def test_mnist1d_options() -> None:
    with pytest.raises(ValueError, match="num_samples must be a multiple of 10"):
        data.load("mnist1d", num_samples=105)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1.5"):
        data.load("mnist1d", num_samples=100, val_fraction=1.5)
    assert data.load("mnist1d", num_samples=100, val_fraction=0).val is None


# ---------------------------------------------------------------- CIFAR-10


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_pickle(path: Path, content: object) -> None:
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=2)


class Python2Pickler(pickle._Pickler):
    """Writes str and bytes as the byte strings of Python 2's cPickle, and numpy's
    array reconstructor under its numpy 1.x name: the originals' encoding."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_byte_string(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_byte_string
    dispatch[bytes] = save_byte_string


def write_python2_pickle(path: Path, content: object) -> None:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(content)
    path.write_bytes(buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


class CreatesMarker:
    """Unpickling this runs ``open(marker, "w")``, which creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    return write_cifar(tmp_path, write_pickle)


def write_cifar(root: Path, write: Callable[[Path, object], None]) -> Path:
    """Tiny files in CIFAR-10's python format: dicts with bytes keys, b'data' uint8
    (N, 3072) with the channels one after another, b'labels' a list of ints."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [*cifar10.TRAIN_FILES, cifar10.TEST_FILE]
    for index, name in enumerate(names):
        size = TEST_SIZE if name == cifar10.TEST_FILE else TRAIN_PER_FILE
        base = np.array([60, 120, 180], dtype=np.uint8)[:, None]  # distinct channel means
        images = (base + rng.integers(0, 70, (size, 3, 1024))).astype(np.uint8).reshape(size, 3072)
        write(
            folder / name,
            {
                b"batch_label": f"batch {index}".encode(),
                b"labels": rng.integers(0, 10, size).tolist(),
                b"data": images,
                b"filenames": [f"image_{index}_{i}.png".encode() for i in range(size)],
            },
        )
    label_names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    write(folder / "batches.meta", {b"num_cases_per_batch": TRAIN_PER_FILE, b"label_names": label_names})
    return root


def checksums(root: Path) -> dict[str, str]:
    return {name: md5(root / "cifar-10-batches-py" / name) for name in cifar10.MD5}


def load_cifar(root: Path, **options) -> data.DataBundle:
    return data.load("cifar10", root=root, n_val=VAL_SIZE, checksums=checksums(root), **options)


def test_cifar10_splits_and_standardisation(cifar_root: Path) -> None:
    bundle = load_cifar(cifar_root)
    n_train = 5 * TRAIN_PER_FILE - VAL_SIZE
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (n_train, VAL_SIZE, TEST_SIZE)
    assert bundle.train.inputs.shape == (n_train, 3, 32, 32) and bundle.train.inputs.dtype == torch.float32
    assert bundle.train.labels.dtype == torch.int64
    assert (bundle.num_classes, bundle.input_shape, bundle.augment) == (10, (3, 32, 32), None)
    per_channel = bundle.train.inputs.transpose(0, 1).flatten(1).double()
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(3, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.std(1, correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    # every split is standardised with the training split's statistics
    folder = cifar_root / "cifar-10-batches-py"
    raw = {name: pickle.loads((folder / name).read_bytes()) for name in [*cifar10.TRAIN_FILES, "test_batch"]}
    train_images = np.concatenate([raw[name][b"data"] for name in cifar10.TRAIN_FILES])[:n_train]
    channels = train_images.reshape(n_train, 3, 1024).transpose(1, 0, 2).reshape(3, -1).astype(np.float64)
    mean, std = channels.mean(1)[:, None, None], channels.std(1)[:, None, None]
    expected = (raw["test_batch"][b"data"].reshape(-1, 3, 32, 32) - mean) / std
    torch.testing.assert_close(bundle.test.inputs, torch.from_numpy(expected).float())
    # the validation split is the last examples of the training files, labels untouched
    assert bundle.val.labels.tolist() == raw["data_batch_5"][b"labels"][-VAL_SIZE:]
    assert bundle.test.labels.tolist() == raw["test_batch"][b"labels"]


def test_cifar10_reads_files_pickled_by_python2(cifar_root: Path, tmp_path: Path) -> None:
    python2 = write_cifar(tmp_path / "python2", write_python2_pickle)
    assert b"numpy.core.multiarray" in (python2 / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    expected, bundle = load_cifar(cifar_root), load_cifar(python2)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(bundle, split).inputs, getattr(expected, split).inputs)
        assert torch.equal(getattr(bundle, split).labels, getattr(expected, split).labels)


def test_cifar10_validation_size(cifar_root: Path) -> None:
    with pytest.raises(ValueError, match="n_val=60 must be smaller than the 60 training examples"):
        data.load("cifar10", root=cifar_root, n_val=60, checksums=checksums(cifar_root))
    assert data.load("cifar10", root=cifar_root, n_val=0, checksums=checksums(cifar_root)).val is None


def test_cifar10_random_labels(cifar_root: Path) -> None:
    true = load_cifar(cifar_root)
    a, b, c = (load_cifar(cifar_root, random_labels=True, seed=seed) for seed in (1, 1, 2))
    assert torch.equal(a.train.labels, b.train.labels) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.train.labels, c.train.labels)
    assert not torch.equal(a.train.labels, true.train.labels) and not torch.equal(a.val.labels, true.val.labels)
    assert torch.equal(a.test.labels, true.test.labels)
    assert torch.equal(a.train.inputs, true.train.inputs)
    assert 0 <= int(a.train.labels.min()) and int(a.train.labels.max()) < 10


def test_cifar10_augmentation(cifar_root: Path) -> None:
    bundle = load_cifar(cifar_root, augment=True)
    batch = bundle.train.inputs[:16]
    first = bundle.augment(batch, torch.Generator().manual_seed(0))
    again = bundle.augment(batch, torch.Generator().manual_seed(0))
    other = bundle.augment(batch, torch.Generator().manual_seed(1))
    assert first.shape == batch.shape and first.dtype == batch.dtype
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_crop_and_flip_takes_a_window_of_the_padded_image() -> None:
    images = torch.randn(20, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    out = cifar10.crop_and_flip(images, torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    flipped = 0
    for image, window in zip(padded, out):
        matches = [
            (flip, top, left)
            for flip, top, left in itertools.product((False, True), range(9), range(9))
            if torch.equal(window, (lambda w: w.flip(-1) if flip else w)(image[:, top : top + 6, left : left + 7]))
        ]
        assert matches, "each output is a (possibly flipped) window of the zero-padded image"
        flipped += matches[0][0]
    assert 0 < flipped < len(images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_crop_and_flip_on_cuda_with_a_cpu_generator() -> None:
    images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    on_cpu = cifar10.crop_and_flip(images, torch.Generator().manual_seed(3))
    on_cuda = cifar10.crop_and_flip(images.cuda(), torch.Generator().manual_seed(3))
    assert on_cuda.is_cuda and torch.equal(on_cuda.cpu(), on_cpu)


def test_cifar10_rejects_a_wrong_checksum_before_unpickling(cifar_root: Path, tmp_path: Path) -> None:
    expected = checksums(cifar_root)
    marker = tmp_path / "pwned"
    batch = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    write_pickle(batch, CreatesMarker(marker))
    with pytest.raises(ValueError, match=rf"data_batch_3: md5 is {md5(batch)}, expected {expected['data_batch_3']}"):
        data.load("cifar10", root=cifar_root, n_val=VAL_SIZE, checksums=expected)
    assert not marker.exists()
    # the real table of checksums rejects the tiny files too
    with pytest.raises(ValueError, match=rf"md5 is .*, expected {cifar10.MD5['batches.meta']}"):
        data.load("cifar10", root=cifar_root)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_globals(cifar_root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    batch = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    write_pickle(batch, CreatesMarker(marker))  # a file whose checksum matches but that is not CIFAR
    with pytest.raises(pickle.UnpicklingError, match=r"data_batch_3: refusing to load the global .*open"):
        data.load("cifar10", root=cifar_root, n_val=VAL_SIZE, checksums=checksums(cifar_root))
    assert not marker.exists()
    pickle.loads(batch.read_bytes())  # the file is really harmful: an unrestricted load obeys it
    assert marker.exists()
    path = tmp_path / "codec.pkl"
    write_pickle(path, {b"data": os.system})  # only a reference: nothing runs, even unrestricted
    with pytest.raises(pickle.UnpicklingError, match=r"codec.pkl: refusing to load the global \w+\.system"):
        cifar10.read_verified(path, md5(path))


def test_restricted_unpickler_limits_codecs(tmp_path: Path) -> None:
    path = tmp_path / "codec.pkl"
    # what pickle writes for bytes at protocol 2, but with another codec
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00rot_13\x86R.")
    with pytest.raises(pickle.UnpicklingError, match="refusing _codecs.encode with codec 'rot_13'"):
        cifar10.read_verified(path, md5(path))


def test_cifar10_checksums_must_name_every_file(cifar_root: Path) -> None:
    partial = {name: value for name, value in checksums(cifar_root).items() if name != "test_batch"}
    with pytest.raises(ValueError, match=r"missing: \['test_batch'\], unknown: \[\]"):
        data.load("cifar10", root=cifar_root, n_val=VAL_SIZE, checksums=partial)


def test_cifar10_missing_gives_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRIVOLOUS_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        data.load("cifar10")
    message = str(error.value)
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_1" in message
    assert cifar10.URL in message and "download=True" in message and "never downloads" in message


# ---------------------------------------------------------------- ImageNet


@pytest.fixture
def imagenet_root(tmp_path: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for cls in ("n01440764", "n01443537", "n01484850"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{cls}_{i}.{'png' if i % 2 else 'JPEG'}")
    return tmp_path


def test_imagenet_reads_an_image_folder(imagenet_root: Path) -> None:
    bundle = data.load("imagenet", root=imagenet_root, image_size=32)
    assert bundle.num_classes == 3 and bundle.input_shape == (3, 32, 32)
    assert bundle.train.classes == bundle.test.classes == ["n01440764", "n01443537", "n01484850"]
    assert (len(bundle.train), len(bundle.test), bundle.val) == (9, 6, None)
    image, label = bundle.train[4]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 1
    image, label = bundle.test[0]
    assert image.shape == (3, 32, 32) and label == 0
    deterministic = data.load("imagenet", root=imagenet_root, image_size=32, augment=False)
    assert torch.equal(deterministic.train[0][0], deterministic.train[0][0])


def test_imagenet_holdout_and_class_mismatch(imagenet_root: Path) -> None:
    (imagenet_root / "train" / "n01440764" / "n01440764_0.JPEG").rename(imagenet_root / "moved.JPEG")
    holdout = imagenet_root / "holdout" / "n01440764"
    holdout.mkdir(parents=True)
    (imagenet_root / "moved.JPEG").rename(holdout / "n01440764_0.JPEG")
    with pytest.raises(ValueError, match=r"holdout.*same class folders.*only in train: \['n01443537', 'n01484850'\]"):
        data.load("imagenet", root=imagenet_root, image_size=32)
    (imagenet_root / "val" / "n01484850").rename(imagenet_root / "val" / "n09999999")
    with pytest.raises(ValueError, match=r"only in val: \['n09999999'\]"):
        data.load("imagenet", root=imagenet_root, image_size=32)


def test_imagenet_missing_gives_instructions(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        data.load("imagenet", root=tmp_path)
    message = str(error.value)
    assert f"missing {[str(tmp_path / 'val')]}" in message
    assert "root/train/<class>/<image>" in message and "image-net.org" in message


# ---------------------------------------------------------------- class-stratified samples


def test_stratified_sample_takes_each_class_in_proportion() -> None:
    sorted_labels = torch.arange(10).repeat_interleave(10)  # 10 classes of 10, sorted as class folders are
    chosen = stratified_sample(sorted_labels, 10, torch.Generator().manual_seed(0))
    assert sorted(sorted_labels[chosen].tolist()) == list(range(10)) and chosen.tolist() == sorted(chosen.tolist())
    again = stratified_sample(sorted_labels, 10, torch.Generator().manual_seed(0))
    other = stratified_sample(sorted_labels, 10, torch.Generator().manual_seed(1))
    assert torch.equal(chosen, again) and not torch.equal(chosen, other)
    # uneven classes: 6 of 20 with classes of 10, 6 and 4 -> exact shares 3, 1.8, 1.2 -> 3, 2, 1
    uneven = torch.tensor([0] * 10 + [1] * 6 + [2] * 4)
    counts = torch.bincount(uneven[stratified_sample(uneven, 6, torch.Generator().manual_seed(0))], minlength=3)
    assert counts.tolist() == [3, 2, 1]
    assert stratified_sample(uneven, 20, torch.Generator()).tolist() == list(range(20))
    with pytest.raises(ValueError, match=r"n must be an integer in 1\.\.20 \(the number of examples\), got 21"):
        stratified_sample(uneven, 21, torch.Generator())


def test_a_measured_part_of_a_sorted_image_folder_covers_every_class(tmp_path: Path) -> None:
    from PIL import Image

    from frivolous.runs.folder import measured_examples

    classes = [f"n{i:08d}" for i in range(10)]
    for split, count in (("train", 1), ("val", 10)):
        for cls in classes:
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / split / cls / f"{i}.png")
    test = data.load("imagenet", root=tmp_path, image_size=8).test
    assert split_labels(test).tolist() == sorted(split_labels(test).tolist())  # an ImageFolder is class-sorted
    labels = torch.cat([y for _, y in measured_examples(test, 10, seed=0)])
    assert sorted(labels.tolist()) == list(range(10))  # a prefix would be class 0 alone
    subset = torch.utils.data.Subset(test, [5, 15, 95])
    assert split_labels(subset).tolist() == [0, 1, 9]
