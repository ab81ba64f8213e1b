"""The learner's toolkit (issue 22): ELU, SELU, Softplus, MAE, Huber, MulticlassHinge, RMSProp, AdaGrad,
Adam's amsgrad, the new initializers and linear_warmup, as their formulas say, saved and loaded."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import central_difference
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet import (
    ELU,
    MAE,
    MSE,
    SELU,
    AdaGrad,
    Adam,
    CrossEntropy,
    Dense,
    Huber,
    LearningRateScheduler,
    MulticlassHinge,
    NeuralNetwork,
    RMSProp,
    Softplus,
    cosine_decay,
    get_activation,
    glorot_normal,
    he_uniform,
    lecun_normal,
    linear_warmup,
    orthogonal,
)
from refnet.errors import ShapeError

# -- activations -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cls"), [("elu", ELU), ("selu", SELU), ("softplus", Softplus)])
def test_the_new_activations_are_known_by_name(name: str, cls: type) -> None:
    assert type(get_activation(name)) is cls
    assert type(Dense(3, 2, name, seed=0).activation) is cls


def test_elu_is_x_above_zero_and_alpha_times_expm1_below() -> None:
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    y = ELU(alpha=0.7).forward(x)
    np.testing.assert_allclose(y, [[0.7 * (math.exp(-2) - 1), 0.7 * (math.exp(-0.5) - 1), 0.0, 0.5, 3.0]], rtol=1e-15)


def test_selu_uses_pytorchs_constants() -> None:
    y = SELU().forward(np.array([[1.0, -1.0]]))
    assert y[0, 0] == pytest.approx(1.0507009873554805, rel=1e-15)
    assert y[0, 1] == pytest.approx(1.0507009873554805 * 1.6732632423543772 * (math.exp(-1) - 1), rel=1e-15)


@pytest.mark.parametrize(
    ("activation", "left_slope"),
    [(ELU(), 1.0), (ELU(alpha=0.3), 0.3), (SELU(), 1.0507009873554805 * 1.6732632423543772)],
    ids=["elu", "elu-0.3", "selu"],
)
def test_at_the_kink_the_derivative_is_the_left_branchs(activation: Any, left_slope: float) -> None:
    activation.forward(np.zeros((1, 1)))
    assert activation.backward(np.ones((1, 1)))[0, 0] == pytest.approx(left_slope, rel=1e-15)


def test_softplus_is_log_one_plus_exp_without_threshold_or_overflow() -> None:
    x = np.array([[-1e4, -800.0, -30.0, -1.0, 0.0, 1.0, 25.0, 40.0, 800.0, 1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = Softplus().forward(x)
    expected = [math.log1p(math.exp(v)) if v < 30 else v + math.log1p(math.exp(-v)) for v in x[0]]
    np.testing.assert_allclose(y[0], expected, rtol=1e-15, atol=0)
    assert y[0, 6] == 25.0 + math.log1p(math.exp(-25.0)) > 25.0  # no threshold (PyTorch's 20 would give 25)
    assert y[0, 2] == pytest.approx(math.exp(-30.0), rel=1e-12)  # exactly log1p(e^x), not 0


def test_softplus_derivative_is_the_sigmoid() -> None:
    x = np.array([[-40.0, -3.0, 0.0, 2.0, 40.0]])
    layer = Softplus()
    layer.forward(x)
    grad = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(grad[0], [1 / (1 + math.exp(-v)) for v in x[0]], rtol=1e-12)


@pytest.mark.parametrize("cls", [ELU, SELU, Softplus])
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_the_backward_is_the_central_difference_of_the_forward(cls: type, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.01, 3.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))  # off the kink at 0
    G = rng.standard_normal((3, 4))
    layer = cls()
    layer.forward(x)
    analytic = layer.backward(G)
    numeric = central_difference(lambda: float(np.sum(cls().forward(x) * G)), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls", [ELU, SELU, Softplus])
def test_float32_stays_float32(cls: type) -> None:
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    layer = cls()
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32


def test_elu_alpha_must_be_positive() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ELU(alpha=0.0)


@pytest.mark.parametrize("name", ["elu", "selu", "softplus"])
def test_a_dense_with_a_new_activation_saves_and_loads(tmp_path: Path, name: str) -> None:
    activation = ELU(alpha=0.4) if name == "elu" else name
    net = NeuralNetwork([Dense(3, 4, activation, seed=1), Dense(4, 1, seed=2)], MSE())
    net.save(tmp_path / "net.npz")
    loaded = NeuralNetwork.load(tmp_path / "net.npz")
    X = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    first, original = loaded.layers[0], net.layers[0]
    assert isinstance(first, Dense) and isinstance(original, Dense)
    assert first.activation.get_config() == original.activation.get_config()


# -- losses --------------------------------------------------------------------------------


def test_mae_is_the_mean_absolute_error_and_its_gradient_the_sign_over_size() -> None:
    loss = MAE()
    assert loss.forward(np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.0, 0.0], [0.5, 1.0]])) == 1.25
    np.testing.assert_array_equal(loss.backward(), [[0.25, -0.25], [0.0, 0.25]])


def test_huber_is_half_squared_inside_delta_and_linear_outside() -> None:
    loss = Huber(delta=2.0)
    d = np.array([[0.5, -1.0, 2.0, -5.0]])
    assert loss.forward(d, np.zeros_like(d)) == pytest.approx((0.125 + 0.5 + 2.0 + 2.0 * (5.0 - 1.0)) / 4, rel=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0.5 / 4, -1.0 / 4, 2.0 / 4, -2.0 / 4]], rtol=1e-15)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), delta=st.floats(0.1, 3.0))
def test_huber_is_half_mse_for_small_errors_and_delta_mae_minus_a_constant_for_large(seed: int, delta: float) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((4, 3))
    small = y + rng.uniform(-delta, delta, (4, 3)) * 0.99
    assert Huber(delta).forward(small, y) == pytest.approx(MSE().forward(small, y) / 2, rel=1e-12)
    large = y + (delta + rng.uniform(0.1, 5, (4, 3))) * rng.choice([-1.0, 1.0], (4, 3))
    expected = delta * MAE().forward(large, y) - delta * delta / 2
    assert Huber(delta).forward(large, y) == pytest.approx(expected, rel=1e-12)


def test_multiclass_hinge_gives_cs231ns_worked_example() -> None:
    # cs231n's linear-classification notes: the three images' SVM losses are 2.9, 0 and 12.9.
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    loss = MulticlassHinge()
    assert loss.forward(scores, np.array([0, 1, 2])) == pytest.approx((2.9 + 0.0 + 12.9) / 3, rel=1e-12)
    # row 0: s_1 counts (+1), s_2 does not; row 2: both count, so the label's score gets −2
    np.testing.assert_allclose(loss.backward(), [[-1, 1, 0], [0, 0, 0], [1, 1, -2]] / np.float64(3), rtol=1e-15)


def test_multiclass_hinge_term_at_exactly_zero_does_not_count() -> None:
    loss = MulticlassHinge(margin=1.0)
    assert loss.forward(np.array([[2.0, 1.0]]), np.array([0])) == 0.0
    np.testing.assert_array_equal(loss.backward(), [[0.0, 0.0]])


def test_multiclass_hinge_of_zero_scores_is_margin_times_classes_minus_one() -> None:
    assert MulticlassHinge(margin=0.5).forward(np.zeros((4, 5)), np.array([0, 1, 2, 3])) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (np.array([0.0, 1.0]), TypeError, "integers"),
        (np.array([0, 3]), ValueError, "out of range"),
        (np.array([0, -1]), ValueError, "out of range"),
        (np.array([[1, 0, 0], [0, 1, 0]]), ShapeError, "labels"),
    ],
)
def test_multiclass_hinge_takes_integer_labels_only(labels: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        MulticlassHinge().forward(np.zeros((2, 3)), labels)


def test_multiclass_hinge_has_an_accuracy_but_no_probabilities() -> None:
    net = NeuralNetwork([Dense(2, 3, seed=0)], MulticlassHinge())
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    labels = net.predict(X).argmax(axis=1)
    assert net.evaluate(X, labels)["accuracy"] == 1.0
    with pytest.raises(TypeError, match="not probabilities"):
        net.predict_proba(X)


@pytest.mark.parametrize("loss", [Huber(0.5), MulticlassHinge(margin=2.0), MAE()], ids=repr)
def test_the_new_losses_save_and_load_with_their_settings(tmp_path: Path, loss: Any) -> None:
    net = NeuralNetwork([Dense(2, 3, seed=0)], loss)
    net.save(tmp_path / "net.npz")
    loaded = NeuralNetwork.load(tmp_path / "net.npz")
    assert loaded.loss is not None and type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()


# -- optimizers ----------------------------------------------------------------------------


class Holder(Dense):
    """A Dense(1, 5) whose W is stepped with hand-set gradients."""

    def __init__(self, theta: Any) -> None:
        super().__init__(1, len(theta), seed=0)
        self.params["W"][0] = theta


def steps(optimizer: Any, gradients: list[Any], theta0: Any) -> Any:
    layer = Holder(theta0)
    thetas = []
    for g in gradients:
        layer.grads["W"][0], layer.grads["b"][:] = g, 0.0
        optimizer.step([layer])
        thetas.append(layer.params["W"][0].copy())
    return np.array(thetas)


def test_adagrad_constant_gradient_steps_by_lr_g_over_root_t_abs_g_plus_eps() -> None:
    g = np.array([0.5, -2.0, 1e-3, 7.0, -1e-5])
    theta = steps(AdaGrad(learning_rate=0.1, epsilon=1e-10), [g] * 20, np.zeros(5))
    t = np.arange(1, 21)[:, None]
    moves = -np.diff(np.vstack([np.zeros(5), theta]), axis=0)
    np.testing.assert_allclose(moves, 0.1 * g / (np.sqrt(t) * np.abs(g) + 1e-10), rtol=1e-12)


def test_rmsprop_constant_gradient_steps_by_the_closed_form() -> None:
    g = np.array([0.5, -2.0, 1e-3, 7.0, -1e-5])
    theta = steps(RMSProp(learning_rate=0.01, rho=0.9), [g] * 20, np.zeros(5))
    t = np.arange(1, 21)[:, None]
    moves = -np.diff(np.vstack([np.zeros(5), theta]), axis=0)
    np.testing.assert_allclose(moves, 0.01 * g / (np.sqrt(1 - 0.9**t) * np.abs(g) + 1e-8), rtol=1e-12)


def test_rmsprop_momentum_accumulates_the_normalized_steps() -> None:
    g = np.array([1.0, -3.0, 0.2, 5.0, -0.01])
    theta = steps(RMSProp(learning_rate=0.01, rho=0.0, epsilon=1e-12, momentum=0.5), [g] * 3, np.zeros(5))
    # rho = 0: v = g², so g/(√v + ε) is sign(g) (to 1e-12); b_t = sign(g)·(1, 1.5, 1.75)
    np.testing.assert_allclose(theta, -0.01 * np.sign(g) * np.array([[1.0], [2.5], [4.25]]), rtol=1e-9)


def test_amsgrad_keeps_the_largest_second_moment_and_plain_adam_does_not() -> None:
    big, small = np.full(5, 10.0), np.full(5, 0.01)
    gradients = [big, big, small, small, small]
    ams = steps(Adam(0.01, beta2=0.9, amsgrad=True), gradients, np.zeros(5))
    plain = steps(Adam(0.01, beta2=0.9), gradients, np.zeros(5))
    np.testing.assert_array_equal(ams[:2], plain[:2])  # v rises at first: the maximum is v
    assert np.all(np.abs(np.diff(ams[1:], axis=0)) < np.abs(np.diff(plain[1:], axis=0)))  # then smaller steps


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RMSProp(rho=1.0), "rho"),
        (lambda: RMSProp(epsilon=0.0), "epsilon"),
        (lambda: RMSProp(momentum=-0.1), "momentum"),
        (lambda: AdaGrad(learning_rate=0.0), "learning_rate"),
        (lambda: AdaGrad(epsilon=-1.0), "epsilon"),
    ],
)
def test_bad_hyper_parameters_are_refused(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_amsgrad_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="amsgrad"):
        Adam(amsgrad="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: RMSProp(0.01),
        lambda: RMSProp(0.002, momentum=0.9),
        lambda: AdaGrad(0.1),
        lambda: Adam(0.01, amsgrad=True),
    ],
    ids=["rmsprop", "rmsprop-momentum", "adagrad", "amsgrad"],
)
def test_the_new_optimizers_train_and_resume_bitwise_from_a_file(tmp_path: Path, make: Any) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.1

    def network() -> NeuralNetwork:
        return NeuralNetwork([Dense(3, 8, "elu"), Dense(8, 1)], MSE(), seed=3)

    straight = network()
    history = straight.train(X, Y, epochs=6, optimizer=make(), batch_size=8)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    first = network()
    first.train(X, Y, epochs=3, optimizer=make(), batch_size=8)
    first.save(tmp_path / "half.npz", optimizer=first.optimizer)
    resumed = NeuralNetwork.load(tmp_path / "half.npz")
    assert type(resumed.optimizer) is type(straight.optimizer)
    assert resumed.optimizer is not None and resumed.optimizer.get_config() == make().get_config()
    resumed.train(X, Y, epochs=3, batch_size=8)
    for a, b in zip(straight.layers, resumed.layers, strict=True):
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])


@pytest.mark.parametrize("make", [lambda: RMSProp(0.01, momentum=0.9), AdaGrad, lambda: Adam(amsgrad=True)])
def test_float32_parameters_keep_float32_state(make: Any) -> None:
    layer = Dense(3, 2, seed=0, dtype=np.float32)
    layer.forward(np.ones((2, 3), dtype=np.float32))
    layer.backward(np.ones((2, 2), dtype=np.float32))
    optimizer = make()
    optimizer.step([layer])
    optimizer.step([layer])
    assert layer.params["W"].dtype == np.float32
    assert {value.dtype for value in optimizer.state_arrays([layer]).values() if value.ndim} == {np.dtype(np.float32)}


def test_a_negative_adagrad_sum_in_a_file_is_refused() -> None:
    assert AdaGrad().state_problem({"G": np.array([1.0, -1.0])}) is not None
    assert RMSProp().state_problem({"v": np.array([-1.0])}) is not None
    assert Adam(amsgrad=True).state_problem({"t": 1, "v": np.ones(2), "v_max": np.zeros(2)}) is not None


# -- initializers --------------------------------------------------------------------------


def test_he_uniform_lies_within_its_limit_and_has_variance_two_over_fan_in() -> None:
    W = he_uniform((400, 300), np.random.default_rng(0), np.dtype(np.float64))
    limit = math.sqrt(6 / 400)
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.999 * limit
    assert W.var() == pytest.approx(2 / 400, rel=0.01)


@pytest.mark.parametrize(("init", "variance"), [(glorot_normal, 2 / 700), (lecun_normal, 1 / 400)])
def test_normal_initializers_have_their_variance(init: Any, variance: float) -> None:
    W = init((400, 300), np.random.default_rng(1), np.dtype(np.float64))
    assert abs(W.mean()) < 5 * math.sqrt(variance / W.size)
    assert W.var() == pytest.approx(variance, rel=0.01)


@pytest.mark.parametrize("shape", [(8, 3), (3, 8), (6, 6)])
def test_orthogonal_has_orthonormal_columns_or_rows(shape: tuple[int, int]) -> None:
    W = orthogonal(shape, np.random.default_rng(2), np.dtype(np.float64))
    assert W.shape == shape
    gram = W.T @ W if shape[0] >= shape[1] else W @ W.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)


@pytest.mark.parametrize("name", ["he_uniform", "glorot_normal", "lecun_normal", "orthogonal"])
def test_dense_takes_the_new_initializers_by_name(name: str) -> None:
    layer = Dense(5, 4, weight_init=name, seed=0, dtype=np.float32)
    assert layer.params["W"].dtype == np.float32 and layer.params["W"].shape == (5, 4)
    assert not np.array_equal(layer.params["W"], Dense(5, 4, seed=0, dtype=np.float32).params["W"])


def test_an_unknown_initializer_lists_the_new_ones() -> None:
    with pytest.raises(ValueError, match="orthogonal"):
        Dense(2, 2, weight_init="xavier")


def test_elu_auto_init_is_he_normal() -> None:
    W = Dense(400, 300, "elu", seed=0).params["W"]
    assert W.var() == pytest.approx(2 / 400, rel=0.02)


# -- the warm-up schedule -------------------------------------------------------------------


def test_linear_warmup_rises_linearly_then_hands_over_to_cosine_decay() -> None:
    schedule = linear_warmup(5, cosine_decay(10), start_factor=0.2)
    rates = [schedule(epoch, 1.0) for epoch in range(16)]
    np.testing.assert_allclose(rates[:5], [0.2, 0.36, 0.52, 0.68, 0.84], rtol=1e-12)
    assert rates[5] == 1.0 and rates[10] == pytest.approx(0.5) and rates[15] == pytest.approx(0.0, abs=1e-15)


def test_linear_warmup_alone_stays_at_lr0_after_the_warmup() -> None:
    schedule = linear_warmup(2)
    assert [schedule(epoch, 0.5) for epoch in range(4)] == [pytest.approx(0.05), pytest.approx(0.275), 0.5, 0.5]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"epochs": 0}, ValueError), ({"epochs": 3, "start_factor": 0.0}, ValueError),
     ({"epochs": 3, "start_factor": 1.5}, ValueError), ({"epochs": 3, "then": 0.1}, TypeError)],
)  # fmt: skip
def test_linear_warmup_refuses_bad_arguments(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        linear_warmup(**kwargs)


def test_linear_warmup_sets_the_learning_rate_during_training() -> None:
    net = NeuralNetwork([Dense(2, 1)], MSE(), seed=0)
    X = np.ones((4, 2))
    scheduler = LearningRateScheduler(linear_warmup(2, cosine_decay(2), start_factor=0.5))
    history = net.train(X, np.ones((4, 1)), epochs=5, optimizer=RMSProp(0.1), callbacks=[scheduler])
    np.testing.assert_allclose(history["lr"], [0.05, 0.075, 0.1, 0.05, 0.0], atol=1e-15)


def test_cross_entropy_still_trains_with_the_new_activations() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = NeuralNetwork([Dense(2, 16, "selu"), Dense(16, 16, "softplus"), Dense(16, 2)], CrossEntropy(), seed=0)
    net.train(X, labels, epochs=150, optimizer=Adam(0.02), batch_size=None)
    assert net.evaluate(X, labels)["accuracy"] > 0.9


def test_selu_auto_init_is_lecun_normal() -> None:
    W = Dense(400, 300, "selu", seed=0).params["W"]
    assert W.var() == pytest.approx(1 / 400, rel=0.02)
    np.testing.assert_array_equal(W, Dense(400, 300, "selu", weight_init="lecun_normal", seed=0).params["W"])


def test_softplus_auto_init_stays_glorot_uniform() -> None:
    W = Dense(400, 300, "softplus", seed=0).params["W"]
    assert np.abs(W).max() <= np.sqrt(6 / 700)


def test_mae_and_huber_take_any_shape_and_hinge_only_rows() -> None:
    y_pred, y = np.ones((2, 3, 4)), np.zeros((2, 3, 4))
    mae = MAE()
    assert mae.forward(y_pred, y) == 1.0 and Huber().forward(y_pred, y) == 0.5
    np.testing.assert_array_equal(mae.backward(), np.full((2, 3, 4), 1 / 24))
    with pytest.raises(ShapeError, match=r"\(N, C\)"):
        MulticlassHinge().forward(np.zeros((2, 3, 4)), np.zeros((2, 3), dtype=int))


def test_the_new_activations_act_on_sequences() -> None:
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    for name in ("elu", "selu", "softplus"):
        layer = Dense(3, 4, name, seed=0)
        assert layer.forward(x).shape == (2, 5, 4)
        assert layer.backward(np.ones((2, 5, 4))).shape == (2, 5, 3)
