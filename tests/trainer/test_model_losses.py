import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from trainer.losses import activity_loss, distortion_loss, identity_loss  # noqa: E402
from trainer.model import build_anonymizer, build_classifier, build_decoder, build_encoder, macs  # noqa: E402


def _aae(channels=2, filters=16, latent=8):
    enc = build_encoder((128, channels), filters, latent)
    dec = build_decoder(enc.output_shape[1:], channels, filters)
    return enc, dec, build_anonymizer(enc, dec)


@pytest.mark.parametrize("channels", [2, 6])
def test_shapes_round_trip(channels):
    enc, dec, aae = _aae(channels)
    assert enc.output_shape == (None, 32, 8)
    assert aae.output_shape == (None, 128, channels)
    y = aae.predict(np.zeros((3, 128, channels), np.float32), verbose=0)
    assert y.shape == (3, 128, channels)


def test_only_int8_friendly_ops():
    _, _, aae = _aae()
    cfg = aae.to_json()
    assert "selu" not in cfg.lower()
    assert "Conv1DTranspose" not in cfg and "Conv2DTranspose" not in cfg


def test_macs_budget_of_default_model():
    # the default model must stay small enough for the <=50 us int8 latency target
    _, _, aae = _aae()
    assert 100_000 < macs(aae) < 1_200_000


def test_identity_loss_prefers_uncertain_attacker():
    onehot = tf.one_hot([0, 1], 4)
    confident_right = tf.constant([[9.0, 0, 0, 0], [0, 9.0, 0, 0]])
    confident_wrong = tf.constant([[0, 9.0, 0, 0], [9.0, 0, 0, 0]])
    uniform = tf.zeros((2, 4))
    l_right, l_wrong, l_unif = (float(identity_loss(onehot, z)) for z in (confident_right, confident_wrong, uniform))
    # pushing away from the true user AND from any confident guess: uniform is best, and a
    # confidently wrong attacker is still penalised (the max term)
    assert l_unif < l_wrong < l_right
    assert l_wrong > 1.0


def test_activity_and_distortion_losses():
    assert float(activity_loss(tf.constant([1]), tf.constant([[0.0, 10.0]]))) < 1e-3
    x = tf.ones((2, 128, 2))
    assert float(distortion_loss(x, x)) == 0.0
    assert float(distortion_loss(x, x * 3)) == pytest.approx(4.0)


def test_classifier_outputs_logits():
    m = build_classifier((32, 8), 5, 8, "r")
    assert m.output_shape == (None, 5)
