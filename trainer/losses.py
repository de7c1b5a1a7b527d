"""The paper's losses (Malekzadeh et al., IoTDI'19, Eq. 7 and the multi-objective sum)."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["identity_loss", "activity_loss", "distortion_loss"]

_EPS = 1e-7


def identity_loss(onehot: tf.Tensor, logits: tf.Tensor, weight: tf.Tensor | None = None) -> tf.Tensor:
    """L_i = -( U·log(1 - Û) + log(1 - max Û) ), averaged over the batch (``weight``: per window,
    e.g. 0 where the attribute is unknown; the mean is over the weighted windows).

    The first term pushes away from the true user, the second from *any* confident guess, so the
    anonymizer cannot escape by making the attacker confidently wrong. The same form protects a
    binary attribute (gender): its optimum is a 50/50 guess.
    """
    p = tf.nn.softmax(logits, axis=-1)
    true_term = tf.reduce_sum(onehot * tf.math.log(tf.clip_by_value(1.0 - p, _EPS, 1.0)), axis=-1)
    max_term = tf.math.log(tf.clip_by_value(1.0 - tf.reduce_max(p, axis=-1), _EPS, 1.0))
    if weight is None:
        return -tf.reduce_mean(true_term + max_term)
    return -tf.reduce_sum(weight * (true_term + max_term)) / tf.maximum(tf.reduce_sum(weight), 1.0)


def activity_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


def distortion_loss(x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(x - x_hat))
