"""FusedAdam: Adam's arithmetic in TensorFlow's fused kernel (the same weights as Keras's Adam on the same gradients)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from recsys.training.optimizer import FusedAdam  # noqa: E402


def gradients(step: int):
    """A dense gradient and a sparse one with a repeated row (row 0 twice; rows 1 and 3 never)."""
    dense = tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2) - step)
    sparse = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0 - step, -1.0], [0.5, -4.0]]), tf.constant([0, 2, 0]),
                              tf.constant([4, 2]))
    return dense, sparse


def run(optimizer, *, densify: bool, steps: int = 4):
    table = keras.Variable(np.ones((4, 2), np.float32))
    weight = keras.Variable(np.full((3, 2), 0.5, np.float32))
    optimizer.build([weight, table])
    for step in range(steps):
        dense, sparse = gradients(step)
        optimizer.apply([dense, tf.convert_to_tensor(sparse) if densify else sparse], [weight, table])
    return np.asarray(weight), np.asarray(table)


def test_fused_adam_matches_keras_adam_on_the_summed_gradient():
    fused = run(FusedAdam(learning_rate=0.05), densify=False)
    reference = run(keras.optimizers.Adam(learning_rate=0.05), densify=True)
    for got, want in zip(fused, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    table = fused[1]
    assert not np.allclose(table[[0, 2]], 1.0)  # rows with gradients moved
    np.testing.assert_array_equal(table[[1, 3]], 1.0)  # rows that never had one did not


def test_fused_adam_clips_like_keras_adam():
    """Clipping happens before the update (Keras's base optimiser), so clipped dense gradients match too."""
    fused = run(FusedAdam(learning_rate=0.05, clipnorm=1.0), densify=True)
    reference = run(keras.optimizers.Adam(learning_rate=0.05, clipnorm=1.0), densify=True)
    unclipped = run(keras.optimizers.Adam(learning_rate=0.05), densify=True)
    for got, want in zip(fused, reference):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fused[0], unclipped[0])


def test_fused_adam_round_trips_its_config():
    optimizer = FusedAdam(learning_rate=0.01, clipnorm=5.0)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(again, FusedAdam)
    assert again.get_config()["clipnorm"] == 5.0
