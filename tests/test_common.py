"""scikit-learn's estimator checks over every public estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_attnpoly import AttentionPolynomialRegressor, PaperMLPRegressor


@parametrize_with_checks(
    [
        AttentionPolynomialRegressor(),
        # a short budget, as the checks fit small data many times, and a
        # learning rate at which it fits their regression data (R^2 > 0.5)
        PaperMLPRegressor((8,), max_epochs=20, batch_size=50, lr=0.05, random_state=0),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
