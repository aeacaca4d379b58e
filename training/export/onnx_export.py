"""ONNX export of fitted survival models, from the encoded matrix to the risk, with a parity check.

Every graph takes `features` (float32, [n, k], the encoded columns in the model's order) and
returns `risk` ([n, 3]: probability of a PFS event by 6, 12, 24 months), `log_hazard`
([n, 1]) and per-feature `contributions` ([n, k]). Exported with the cause-specific models of
relapse and non-relapse mortality (`training.models.CompetingRisks`), it also returns
`relapse` and `nrm` ([n, 3]: cumulative incidences, relapse + nrm = risk) and the causes'
`relapse_log_hazard` and `nrm_log_hazard` ([n, 1]).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from training.models import (
    CIF_GRID_MONTHS,
    CIF_HORIZON_INDEX,
    CauseModels,
    CompetingRisks,
    CoxRidge,
    RidgeXGB,
    XGBCox,
)

OPSET = 15  # the XGBoost converter's ceiling (see the ONNX field notes)
PARITY_TOLERANCE = 1e-5


class ParityError(AssertionError):
    """The ONNX graph does not reproduce the fitted model."""


def _const(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _risk_nodes(log_hazard: str, horizon_cumhaz: np.ndarray) -> tuple[list, list]:
    """risk = 1 - exp(-H0(t) * exp(log_hazard)) for each horizon."""
    inits = [
        _const("horizon_cumhaz", np.asarray(horizon_cumhaz).reshape(1, -1)),
        _const("one", np.array(1.0)),
    ]
    nodes = [
        helper.make_node("Exp", [log_hazard], ["relative_hazard"]),
        helper.make_node("Mul", ["relative_hazard", "horizon_cumhaz"], ["cumhaz"]),
        helper.make_node("Neg", ["cumhaz"], ["neg_cumhaz"]),
        helper.make_node("Exp", ["neg_cumhaz"], ["survival"]),
        helper.make_node("Sub", ["one", "survival"], ["risk"]),
    ]
    return nodes, inits


def _io(k: int, with_contributions: bool):
    inputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, k])]
    outputs = [
        helper.make_tensor_value_info("risk", TensorProto.FLOAT, [None, 3]),
        helper.make_tensor_value_info("log_hazard", TensorProto.FLOAT, [None, 1]),
    ]
    if with_contributions:
        outputs.append(helper.make_tensor_value_info("contributions", TensorProto.FLOAT, [None, k]))
    return inputs, outputs


def cox_to_onnx(model: CoxRidge) -> onnx.ModelProto:
    """The standardisation, linear predictor, contributions and risk as one graph."""
    k = len(model.feature_names_)
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["standardised"]),
        helper.make_node("Mul", ["standardised", "coef_row"], ["contributions"]),
        helper.make_node("MatMul", ["standardised", "coef_column"], ["log_hazard"]),
    ]
    inits = [
        _const("mean", model.mean_.reshape(1, -1)),
        _const("scale", model.scale_.reshape(1, -1)),
        _const("coef_row", model.coef_.reshape(1, -1)),
        _const("coef_column", model.coef_.reshape(-1, 1)),
    ]
    risk_nodes, risk_inits = _risk_nodes("log_hazard", model.horizon_cumhaz_)
    inputs, outputs = _io(k, with_contributions=True)
    graph = helper.make_graph(nodes + risk_nodes, "cox_ridge", inputs, outputs, inits + risk_inits)
    return _finish(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)]), model)


def _xgb_graph(
    model,
    log_hazard: str = "log_hazard",
    inputs: str = "features",
    n_inputs: int | None = None,
    contributions: str = "contributions",
) -> onnx.ModelProto:
    """The converted tree ensemble of `model.model_` on `inputs` ([n, n_inputs], by default
    the k features), its offset corrected, giving `log_hazard` (the native margin) and the
    Saabas `contributions` ([n, n_inputs]); no outputs declared yet."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    k = n_inputs or len(model.feature_names_)
    trees = onnxmltools.convert_xgboost(
        model.model_, initial_types=[(inputs, FloatTensorType([None, k]))], target_opset=OPSET
    )
    graph = trees.graph
    tree_output = graph.output[0].name
    # The converter adds base_score in output space; natively the Cox margin starts from
    # log(base_score). Correct the difference so ONNX gives the native margin.
    config = json.loads(model.model_.get_booster().save_config())
    base_score = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    offset = base_score - np.log(base_score)
    graph.initializer.append(_const("margin_offset", np.array(offset)))
    graph.node.append(helper.make_node("Sub", [tree_output, "margin_offset"], [log_hazard]))
    graph.node.append(_saabas_node(model, trees, k, contributions))
    del graph.output[:]
    if not any(op.domain in ("", "ai.onnx") for op in trees.opset_import):
        trees.opset_import.append(helper.make_opsetid("", OPSET))
    return trees


def xgb_to_onnx(model: XGBCox) -> onnx.ModelProto:
    """The converted tree ensemble, its offset corrected, followed by the risk nodes."""
    trees = _xgb_graph(model)
    graph = trees.graph
    risk_nodes, risk_inits = _risk_nodes("log_hazard", model.horizon_cumhaz_)
    graph.node.extend(risk_nodes)
    graph.initializer.extend(risk_inits)
    _, outputs = _io(len(model.feature_names_), with_contributions=True)
    graph.output.extend(outputs)
    return _finish(trees, model)


def _saabas_node(
    model, trees: onnx.ModelProto, k: int, output: str = "contributions"
) -> onnx.NodeProto:
    """Per-feature contributions as a second tree ensemble (Saabas path attribution).

    Along each root-to-leaf path, the change in expected margin at every split is credited
    to the split's feature, so each leaf carries a fixed attribution vector; an ensemble
    with k targets sums them. This is XGBoost's `approx_contribs` (the path-dependent
    approximation TreeSHAP refines); the contributions sum to the margin less its mean.
    """
    source = next(n for n in trees.graph.node if n.op_type == "TreeEnsembleRegressor")
    dumps = [
        json.loads(d)
        for d in model.model_.get_booster().get_dump(dump_format="json", with_stats=True)
    ]
    target = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    for tree_id, root in enumerate(dumps):
        for node_id, attribution in _leaf_attributions(root):
            for feature, value in sorted(attribution.items()):
                if value != 0.0:
                    target["treeids"].append(tree_id)
                    target["nodeids"].append(node_id)
                    target["ids"].append(feature)
                    target["weights"].append(float(value))
    copied = {
        a.name: helper.get_attribute_value(a)
        for a in source.attribute
        if a.name.startswith("nodes_")
    }
    return helper.make_node(
        "TreeEnsembleRegressor",
        [source.input[0]],
        [output],
        domain="ai.onnx.ml",
        n_targets=k,
        base_values=[0.0] * k,
        post_transform="NONE",
        target_treeids=target["treeids"],
        target_nodeids=target["nodeids"],
        target_ids=target["ids"],
        target_weights=target["weights"],
        **copied,
    )


def _leaf_attributions(root: dict):
    """(node id as the converter numbers it, {feature: attribution}) for every leaf.

    The converter numbers nodes depth-first, the "yes" branch first; expected values are
    cover-weighted means of the leaves below.
    """

    def expected(node) -> tuple[float, float]:
        if "leaf" in node:
            return node["leaf"] * node["cover"], node["cover"]
        parts = [expected(c) for c in node["children"]]
        total, cover = sum(p[0] for p in parts), sum(p[1] for p in parts)
        node["_expected"] = total / cover
        return total, cover

    expected(root)
    counter = iter(range(1 << 30))
    out = []

    def value(node) -> float:
        return node["leaf"] if "leaf" in node else node["_expected"]

    def visit(node, attribution: dict) -> None:
        node_id = next(counter)
        if "leaf" in node:
            out.append((node_id, attribution))
            return
        feature = int(node["split"].lstrip("f"))
        children = {c["nodeid"]: c for c in node["children"]}
        for child in (children[node["yes"]], children[node["no"]]):
            step = dict(attribution)
            step[feature] = step.get(feature, 0.0) + value(child) - value(node)
            visit(child, step)

    visit(root, {})
    return out


def _finish(proto: onnx.ModelProto, model) -> onnx.ModelProto:
    proto.producer_name = "relapse-risk"
    helper.set_model_props(
        proto, {"family": model.family, "feature_names": json.dumps(model.feature_names_)}
    )
    onnx.checker.check_model(proto)
    return proto


def _linear_nodes(prefix: str, model: CoxRidge, feature_names: list[str]) -> tuple[list, list]:
    """A cause model's linear predictor `{prefix}_log_hazard` from `features` (a weight vector
    over all features, zero off its own)."""
    weights = np.zeros((len(feature_names), 1))
    for j, name in enumerate(model.feature_names_):
        weights[feature_names.index(name), 0] = model.coef_[j] / model.scale_[j]
    offset = float(np.sum(model.coef_ * model.mean_ / model.scale_))
    inits = [
        _const(f"cr_{prefix}_weights", weights),
        _const(f"cr_{prefix}_offset", np.array(offset)),
        _const(
            f"cr_{prefix}_cumhaz_step",
            np.diff(model.cumulative_baseline_hazard(CIF_GRID_MONTHS)).reshape(1, -1),
        ),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", f"cr_{prefix}_weights"], [f"cr_{prefix}_product"]),
        helper.make_node(
            "Sub", [f"cr_{prefix}_product", f"cr_{prefix}_offset"], [f"{prefix}_log_hazard"]
        ),
        helper.make_node("Exp", [f"{prefix}_log_hazard"], [f"cr_{prefix}_relative"]),
        helper.make_node(
            "Mul", [f"cr_{prefix}_relative", f"cr_{prefix}_cumhaz_step"], [f"cr_d_{prefix}"]
        ),
    ]
    return nodes, inits


def _cause_nodes(
    pfs_cumhaz: np.ndarray, causes: CauseModels, feature_names: list[str]
) -> tuple[list, list]:
    """`training.models.nrm_incidence` in-graph: nrm and relapse from `log_hazard` and the
    cause models' linear predictors."""
    steps = len(CIF_GRID_MONTHS) - 1
    horizons = np.zeros((steps, len(CIF_HORIZON_INDEX)))
    for h, end in enumerate(CIF_HORIZON_INDEX):
        horizons[:end, h] = 1.0
    relapse_nodes, relapse_inits = _linear_nodes("relapse", causes.relapse, feature_names)
    nrm_nodes, nrm_inits = _linear_nodes("nrm", causes.nrm, feature_names)
    inits = [
        *relapse_inits,
        *nrm_inits,
        *_grid_inits(pfs_cumhaz),
        _const("cr_horizons", horizons),
        _const("cr_tiny", np.array(1e-30)),
        _const("cr_zero", np.array(0.0)),
        numpy_helper.from_array(np.array([0], np.int64), "cr_first"),
        numpy_helper.from_array(np.array([1], np.int64), "cr_second"),
        numpy_helper.from_array(np.array([-1], np.int64), "cr_last"),
        numpy_helper.from_array(np.array([len(CIF_GRID_MONTHS)], np.int64), "cr_end"),
        numpy_helper.from_array(np.array([1], np.int64), "cr_axis"),
    ]
    node = helper.make_node
    nodes = [
        *relapse_nodes,
        *nrm_nodes,
        node("Add", ["cr_d_relapse", "cr_d_nrm"], ["cr_d_causes"]),
        node("Max", ["cr_d_causes", "cr_tiny"], ["cr_d_causes_safe"]),
        node("Div", ["cr_d_nrm", "cr_d_causes_safe"], ["cr_share"]),
        # PFS at every grid point; a step's events are S(start) - S(end).
        node("Exp", ["log_hazard"], ["cr_relative"]),
        node("Mul", ["cr_relative", "cr_pfs_cumhaz_neg"], ["cr_neg_total"]),
        node("Exp", ["cr_neg_total"], ["cr_survival"]),
        node("Slice", ["cr_survival", "cr_first", "cr_last", "cr_axis"], ["cr_survival_start"]),
        node("Slice", ["cr_survival", "cr_second", "cr_end", "cr_axis"], ["cr_survival_end"]),
        node("Sub", ["cr_survival_start", "cr_survival_end"], ["cr_events"]),
        node("Mul", ["cr_events", "cr_share"], ["cr_nrm_events"]),
        node("MatMul", ["cr_nrm_events", "cr_horizons"], ["nrm"]),
        node("Sub", ["risk", "nrm"], ["cr_relapse_raw"]),
        node("Max", ["cr_relapse_raw", "cr_zero"], ["relapse"]),
    ]
    return nodes, inits


def _grid_inits(pfs_cumhaz: np.ndarray) -> list:
    """The PFS baseline on the grid, negated (replaced when a version is recalibrated)."""
    return [_const("cr_pfs_cumhaz_neg", -np.asarray(pfs_cumhaz, float).reshape(1, -1))]


def _add_causes(proto: onnx.ModelProto, model, causes: CauseModels) -> onnx.ModelProto:
    nodes, inits = _cause_nodes(
        model.cumulative_baseline_hazard(CIF_GRID_MONTHS), causes, list(model.feature_names_)
    )
    graph = proto.graph
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    graph.output.extend(
        [
            helper.make_tensor_value_info("relapse", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("nrm", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("relapse_log_hazard", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("nrm_log_hazard", TensorProto.FLOAT, [None, 1]),
        ]
    )
    onnx.checker.check_model(proto)
    return proto


def to_onnx(model, causes: CauseModels | None = None) -> onnx.ModelProto:
    """Export a fitted CoxRidge or XGBCox (with the cause models: relapse and nrm as well)."""
    if isinstance(model, CoxRidge):
        proto = cox_to_onnx(model)
    elif isinstance(model, XGBCox):
        proto = xgb_to_onnx(model)
    else:
        raise TypeError(f"no ONNX export for {type(model).__name__}")
    return proto if causes is None else _add_causes(proto, model, causes)


def recalibrated_graph(
    data: bytes, slope: float, horizon_cumhaz: np.ndarray, grid_cumhaz: np.ndarray | None = None
) -> onnx.ModelProto:
    """An exported graph updated to a new population without refitting its predictors:
    log_hazard and contributions scaled by `slope`, and the baseline cumulative hazard at the
    horizons replaced (risk = 1 - exp(-H0'(t) * exp(slope * lp))); with causes, the PFS
    baseline on the incidence grid too (`grid_cumhaz`; the cause models are kept)."""
    proto = onnx.load_from_string(data)
    graph = proto.graph
    scaled = ("log_hazard", "contributions")
    nodes = []
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name in scaled:
                node.output[i] = f"{name}_before_recalibration"
        nodes.append(node)
        nodes += [
            helper.make_node(
                "Mul", [out, "recalibration_slope"], [out.removesuffix("_before_recalibration")]
            )
            for out in node.output
            if out.endswith("_before_recalibration")
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.append(_const("recalibration_slope", np.array(slope)))
    replaced = {
        "horizon_cumhaz": _const("horizon_cumhaz", np.asarray(horizon_cumhaz).reshape(1, -1))
    }
    if grid_cumhaz is not None:
        replaced.update({init.name: init for init in _grid_inits(grid_cumhaz)})
    for i, init in enumerate(graph.initializer):
        if init.name in replaced:
            graph.initializer[i].CopyFrom(replaced[init.name])
    onnx.checker.check_model(proto)
    return proto


def session(proto_or_bytes) -> ort.InferenceSession:
    """A single-threaded ONNX Runtime session (lowest single-row latency on 2 cores)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    data = (
        proto_or_bytes if isinstance(proto_or_bytes, bytes) else proto_or_bytes.SerializeToString()
    )
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def check_parity(
    model,
    proto: onnx.ModelProto,
    X: pd.DataFrame,
    tolerance: float = PARITY_TOLERANCE,
    causes: CauseModels | None = None,
) -> float:
    """Largest absolute difference between ONNX and the fitted model in risk (and, with the
    cause models, in relapse and nrm); raise past tolerance."""
    features = X[model.feature_names_].to_numpy(dtype=np.float32)
    names = ["risk"] if causes is None else ["risk", "relapse", "nrm"]
    onnx_out = dict(zip(names, session(proto).run(names, {"features": features})))
    native = (
        {"risk": model.predict_risk(X)}
        if causes is None
        else CompetingRisks(model, causes).predict_causes(X)
    )
    worst = 0.0
    for name in names:
        gap = float(np.max(np.abs(onnx_out[name] - native[name])))
        if not gap <= tolerance:
            raise ParityError(
                f"ONNX {name} differs from the fitted {model.family} model by "
                f"{gap:.2e} (tolerance {tolerance:.0e}); do not serve this export"
            )
        worst = max(worst, gap)
    return worst


# -- the two-cause outcome model (`training.outcome.TwoCauseModel`) ---------------------------
# Outputs: risk, relapse, nrm ([n, 3] at the horizons), log_hazard ([n, 1]: log of the 12-month
# all-cause cumulative hazard, the ranking score), contributions ([n, k], the relapse model's),
# the curves on `training.outcome.GRID_MONTHS` ([n, G]: event_free_curve, relapse_curve,
# nrm_curve, relapse_cumhaz_curve) and, for the cure family, cure_probability ([n, 1]).
OUTCOME_CURVES = ("event_free_curve", "relapse_curve", "nrm_curve", "relapse_cumhaz_curve")
# Past the mixture-cure model's zero-tail the latency baseline is infinite; in float32 a
# large finite value gives the same exp(-H) = 0.
_ZERO_TAIL_CUMHAZ = 1e30


def _standardised_nodes(prefix: str, mean: np.ndarray, scale: np.ndarray) -> tuple[list, list, str]:
    inits = [
        _const(f"{prefix}_mean", mean.reshape(1, -1)),
        _const(f"{prefix}_scale", scale.reshape(1, -1)),
    ]
    nodes = [
        helper.make_node("Sub", ["features", f"{prefix}_mean"], [f"{prefix}_centred"]),
        helper.make_node(
            "Div", [f"{prefix}_centred", f"{prefix}_scale"], [f"{prefix}_standardised"]
        ),
    ]
    return nodes, inits, f"{prefix}_standardised"


def _cumhaz_curve_nodes(prefix: str, log_hazard: str, baseline: np.ndarray) -> tuple[list, list]:
    """`{prefix}_cumhaz_curve` = exp(log_hazard) * H0 on the grid."""
    inits = [_const(f"{prefix}_baseline_curve", np.asarray(baseline).reshape(1, -1))]
    nodes = [
        helper.make_node("Exp", [log_hazard], [f"{prefix}_relative"]),
        helper.make_node(
            "Mul", [f"{prefix}_relative", f"{prefix}_baseline_curve"], [f"{prefix}_cumhaz_curve"]
        ),
    ]
    return nodes, inits


def _relapse_nodes(relapse, grid: np.ndarray) -> tuple[onnx.ModelProto | None, list, list]:
    """relapse_cumhaz_curve and contributions (and cure_probability for the cure family).
    Returns the tree graph to build on for XGBoost (else None), nodes and initializers."""
    from training.outcome import MixtureCure

    node = helper.make_node
    if isinstance(relapse, XGBCox):
        trees = _xgb_graph(relapse, "relapse_log_hazard")
        nodes, inits = _cumhaz_curve_nodes(
            "relapse", "relapse_log_hazard", relapse.cumulative_baseline_hazard(grid)
        )
        return trees, nodes, inits
    if isinstance(relapse, RidgeXGB):
        return _ridge_xgb_nodes(relapse, grid)
    if isinstance(relapse, CoxRidge):
        nodes, inits, z = _standardised_nodes("relapse", relapse.mean_, relapse.scale_)
        inits += [
            _const("relapse_coef_row", relapse.coef_.reshape(1, -1)),
            _const("relapse_coef_column", relapse.coef_.reshape(-1, 1)),
        ]
        nodes += [
            node("Mul", [z, "relapse_coef_row"], ["contributions"]),
            node("MatMul", [z, "relapse_coef_column"], ["relapse_log_hazard"]),
        ]
        more_nodes, more_inits = _cumhaz_curve_nodes(
            "relapse", "relapse_log_hazard", relapse.cumulative_baseline_hazard(grid)
        )
        return None, nodes + more_nodes, inits + more_inits
    if isinstance(relapse, MixtureCure):
        nodes, inits, z = _standardised_nodes("relapse", relapse.mean_, relapse.scale_)
        baseline = np.minimum(relapse.latency_baseline(grid), _ZERO_TAIL_CUMHAZ)
        inits += [
            _const("uncured_coef_row", relapse.uncured_coef_.reshape(1, -1)),
            _const("uncured_coef_column", relapse.uncured_coef_.reshape(-1, 1)),
            _const("uncured_intercept", np.array(relapse.uncured_intercept_)),
            _const("latency_coef_column", relapse.latency_coef_.reshape(-1, 1)),
            _const("cure_one", np.array(1.0)),
        ]
        nodes += [
            node("Mul", [z, "uncured_coef_row"], ["contributions"]),
            node("MatMul", [z, "uncured_coef_column"], ["uncured_product"]),
            node("Add", ["uncured_product", "uncured_intercept"], ["uncured_logit"]),
            node("Neg", ["uncured_logit"], ["cure_logit"]),
            node("Sigmoid", ["cure_logit"], ["cure_probability"]),
            node("Sub", ["cure_one", "cure_probability"], ["uncured_probability"]),
            node("MatMul", [z, "latency_coef_column"], ["latency_log_hazard"]),
        ]
        latency_nodes, latency_inits = _cumhaz_curve_nodes(
            "latency", "latency_log_hazard", baseline
        )
        nodes += latency_nodes + [
            node("Neg", ["latency_cumhaz_curve"], ["latency_neg_cumhaz"]),
            node("Exp", ["latency_neg_cumhaz"], ["latency_survival"]),
            node("Mul", ["uncured_probability", "latency_survival"], ["uncured_event_free"]),
            node("Add", ["cure_probability", "uncured_event_free"], ["relapse_survival"]),
            node("Log", ["relapse_survival"], ["relapse_log_survival"]),
            node("Neg", ["relapse_log_survival"], ["relapse_cumhaz_curve"]),
        ]
        return None, nodes, inits + latency_inits
    raise TypeError(f"no ONNX export for a relapse model {type(relapse).__name__}")


def _ridge_xgb_nodes(relapse: RidgeXGB, grid: np.ndarray) -> tuple[onnx.ModelProto, list, list]:
    """`training.models.RidgeXGB` in-graph: the ridge index from `features`, the trees on
    the features and the index, the index added to their margin, and the contributions."""
    k = len(relapse.feature_names_)
    ridge = relapse.ridge_
    trees = _xgb_graph(
        relapse, "ridge_xgb_trees", "ridge_xgb_inputs", k + 1, "ridge_xgb_tree_contributions"
    )
    node = helper.make_node

    def ints(name, values):
        return numpy_helper.from_array(np.asarray(values, np.int64), name)

    # The index in float64, as `RidgeXGB.index` computes it: the trees split on its float32
    # value, which must be the native one to the last bit.
    def doubles(name, values):
        return numpy_helper.from_array(np.asarray(values, np.float64), name)

    front_inits = [
        doubles("ridge_mean", ridge.mean_.reshape(1, -1)),
        doubles("ridge_scale", ridge.scale_.reshape(1, -1)),
        doubles("ridge_coef_row", ridge.coef_.reshape(1, -1)),
        doubles("ridge_coef_column", ridge.coef_.reshape(-1, 1)),
    ]
    double, single = TensorProto.DOUBLE, TensorProto.FLOAT
    front = [
        node("Cast", ["features"], ["ridge_features"], to=double),
        node("Sub", ["ridge_features", "ridge_mean"], ["ridge_centred"]),
        node("Div", ["ridge_centred", "ridge_scale"], ["ridge_standardised"]),
        node("Mul", ["ridge_standardised", "ridge_coef_row"], ["ridge_terms_double"]),
        node("Cast", ["ridge_terms_double"], ["ridge_terms"], to=single),
        node("MatMul", ["ridge_standardised", "ridge_coef_column"], ["ridge_index_double"]),
        node("Cast", ["ridge_index_double"], ["ridge_index"], to=single),
        node("Concat", ["features", "ridge_index"], ["ridge_xgb_inputs"], axis=1),
    ]
    # Before the trees, which read their output.
    for n in reversed(front):
        trees.graph.node.insert(0, n)
    trees.graph.initializer.extend(front_inits)
    del trees.graph.input[:]
    trees.graph.input.append(
        helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, k])
    )
    inits = [
        ints("rx_first", [0]),
        ints("rx_k", [k]),
        ints("rx_k1", [k + 1]),
        ints("rx_axis", [1]),
        _const("rx_tiny", np.array(1e-30)),
    ]
    nodes = [
        node("Add", ["ridge_xgb_trees", "ridge_index"], ["relapse_log_hazard"]),
        node(
            "Slice",
            ["ridge_xgb_tree_contributions", "rx_first", "rx_k", "rx_axis"],
            ["rx_feature_parts"],
        ),
        node(
            "Slice",
            ["ridge_xgb_tree_contributions", "rx_k", "rx_k1", "rx_axis"],
            ["rx_index_part"],
        ),
        node("Abs", ["ridge_terms"], ["rx_size"]),
        node("ReduceSum", ["rx_size", "rx_axis"], ["rx_size_sum"], keepdims=1),
        node("Max", ["rx_size_sum", "rx_tiny"], ["rx_size_safe"]),
        node("Div", ["rx_size", "rx_size_safe"], ["rx_share"]),
        node("Mul", ["rx_index_part", "rx_share"], ["rx_index_shared"]),
        node("Add", ["ridge_terms", "rx_feature_parts"], ["rx_direct"]),
        node("Add", ["rx_direct", "rx_index_shared"], ["contributions"]),
    ]
    curve_nodes, curve_inits = _cumhaz_curve_nodes(
        "relapse", "relapse_log_hazard", relapse.cumulative_baseline_hazard(grid)
    )
    return trees, nodes + curve_nodes, inits + curve_inits


def _nrm_nodes(nrm: CoxRidge, feature_names: list[str], grid: np.ndarray) -> tuple[list, list]:
    """nrm_cumhaz_curve from `features` (a weight vector over all features, zero off its
    own)."""
    weights = np.zeros((len(feature_names), 1))
    for j, name in enumerate(nrm.feature_names_):
        weights[feature_names.index(name), 0] = nrm.coef_[j] / nrm.scale_[j]
    offset = float(np.sum(nrm.coef_ * nrm.mean_ / nrm.scale_))
    inits = [_const("nrm_weights", weights), _const("nrm_offset", np.array(offset))]
    nodes = [
        helper.make_node("MatMul", ["features", "nrm_weights"], ["nrm_product"]),
        helper.make_node("Sub", ["nrm_product", "nrm_offset"], ["nrm_log_hazard"]),
    ]
    curve_nodes, curve_inits = _cumhaz_curve_nodes(
        "nrm", "nrm_log_hazard", nrm.cumulative_baseline_hazard(grid)
    )
    return nodes + curve_nodes, inits + curve_inits


def _integration_nodes(
    grid_size: int, horizon_index: tuple[int, ...], index_12m: int
) -> tuple[list, list]:
    """`training.outcome.cumulative_incidences` in-graph, then the horizons."""

    def ints(name, values):
        return numpy_helper.from_array(np.asarray(values, np.int64), name)

    inits = [
        ints("ig_first", [0]),
        ints("ig_second", [1]),
        ints("ig_last", [-1]),
        ints("ig_end", [grid_size]),
        ints("ig_axis", [1]),
        ints("ig_axis_scalar", 1),
        ints("ig_horizons", list(horizon_index)),
        ints("ig_12m", [index_12m]),
        _const("ig_tiny", np.array(1e-30)),
    ]
    node = helper.make_node

    def steps(curve: str) -> list:
        return [
            node("Slice", [curve, "ig_first", "ig_last", "ig_axis"], [f"{curve}_start"]),
            node("Slice", [curve, "ig_second", "ig_end", "ig_axis"], [f"{curve}_end"]),
        ]

    nodes = [
        node("Add", ["relapse_cumhaz_curve", "nrm_cumhaz_curve"], ["ig_total"]),
        node("Neg", ["ig_total"], ["ig_neg_total"]),
        node("Exp", ["ig_neg_total"], ["event_free_curve"]),
        *steps("relapse_cumhaz_curve"),
        *steps("nrm_cumhaz_curve"),
        *steps("event_free_curve"),
        node("Sub", ["relapse_cumhaz_curve_end", "relapse_cumhaz_curve_start"], ["ig_d_relapse"]),
        node("Sub", ["nrm_cumhaz_curve_end", "nrm_cumhaz_curve_start"], ["ig_d_nrm"]),
        node("Add", ["ig_d_relapse", "ig_d_nrm"], ["ig_d_total"]),
        node("Max", ["ig_d_total", "ig_tiny"], ["ig_d_safe"]),
        node("Div", ["ig_d_relapse", "ig_d_safe"], ["ig_share"]),
        node("Sub", ["event_free_curve_start", "event_free_curve_end"], ["ig_events"]),
        node("Mul", ["ig_events", "ig_share"], ["ig_relapse_steps"]),
        node("Sub", ["ig_events", "ig_relapse_steps"], ["ig_nrm_steps"]),
        node("CumSum", ["ig_relapse_steps", "ig_axis_scalar"], ["ig_relapse_sum"]),
        node("CumSum", ["ig_nrm_steps", "ig_axis_scalar"], ["ig_nrm_sum"]),
        # A zero column of the right height: S(0) - S(0).
        node("Slice", ["event_free_curve", "ig_first", "ig_second", "ig_axis"], ["ig_s0"]),
        node("Sub", ["ig_s0", "ig_s0"], ["ig_zero_column"]),
        node("Concat", ["ig_zero_column", "ig_relapse_sum"], ["relapse_curve"], axis=1),
        node("Concat", ["ig_zero_column", "ig_nrm_sum"], ["nrm_curve"], axis=1),
        node("Gather", ["relapse_curve", "ig_horizons"], ["relapse"], axis=1),
        node("Gather", ["nrm_curve", "ig_horizons"], ["nrm"], axis=1),
        node("Add", ["relapse", "nrm"], ["risk"]),
        node("Gather", ["ig_total", "ig_12m"], ["ig_total_12m"], axis=1),
        node("Max", ["ig_total_12m", "ig_tiny"], ["ig_total_12m_safe"]),
        node("Log", ["ig_total_12m_safe"], ["log_hazard"]),
    ]
    return nodes, inits


def outcome_to_onnx(model) -> onnx.ModelProto:
    """Export a fitted `training.outcome.TwoCauseModel`: both cause-specific hazards and
    their integration, from the encoded features to the risks and curves."""
    from training.outcome import GRID_MONTHS, HORIZON_INDEX

    k = len(model.feature_names_)
    grid = GRID_MONTHS
    trees, nodes, inits = _relapse_nodes(model.relapse, grid)
    nrm_nodes, nrm_inits = _nrm_nodes(model.nrm, list(model.feature_names_), grid)
    integration, integration_inits = _integration_nodes(len(grid), HORIZON_INDEX, HORIZON_INDEX[1])
    tensor = helper.make_tensor_value_info
    outputs = [
        tensor("risk", TensorProto.FLOAT, [None, 3]),
        tensor("log_hazard", TensorProto.FLOAT, [None, 1]),
        tensor("contributions", TensorProto.FLOAT, [None, k]),
        tensor("relapse", TensorProto.FLOAT, [None, 3]),
        tensor("nrm", TensorProto.FLOAT, [None, 3]),
        *[tensor(c, TensorProto.FLOAT, [None, len(grid)]) for c in OUTCOME_CURVES],
    ]
    if model.has_cure:
        outputs.append(tensor("cure_probability", TensorProto.FLOAT, [None, 1]))
    if trees is None:
        inputs = [tensor("features", TensorProto.FLOAT, [None, k])]
        graph = helper.make_graph(
            nodes + nrm_nodes + integration,
            f"two_cause_{model.family}",
            inputs,
            outputs,
            inits + nrm_inits + integration_inits,
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    else:
        proto = trees
        proto.graph.node.extend(nodes + nrm_nodes + integration)
        proto.graph.initializer.extend(inits + nrm_inits + integration_inits)
        proto.graph.output.extend(outputs)
    proto.producer_name = "relapse-risk"
    helper.set_model_props(
        proto,
        {
            "family": model.family,
            "outcome": "two_cause",
            "feature_names": json.dumps(model.feature_names_),
        },
    )
    onnx.checker.check_model(proto)
    return proto


def check_outcome_parity(
    model, proto: onnx.ModelProto, X: pd.DataFrame, tolerance: float = PARITY_TOLERANCE
) -> float:
    """Largest absolute difference between the ONNX graph and the fitted two-cause model over
    every output (risks, curves, cure probability); raise past tolerance."""
    from training.outcome import HORIZON_INDEX

    features = X[model.feature_names_].to_numpy(dtype=np.float32)
    names = [
        "risk",
        "relapse",
        "nrm",
        "contributions",
        "event_free_curve",
        "relapse_curve",
        "nrm_curve",
    ] + (["cure_probability"] if model.has_cure else [])
    onnx_out = dict(zip(names, session(proto).run(names, {"features": features})))
    curves = model.curves(X)
    at = list(HORIZON_INDEX)
    native = {
        "risk": curves["relapse"][:, at] + curves["nrm"][:, at],
        "relapse": curves["relapse"][:, at],
        "nrm": curves["nrm"][:, at],
        "contributions": model.contributions(X),
    }
    native.update(
        {
            "event_free_curve": curves["event_free"],
            "relapse_curve": curves["relapse"],
            "nrm_curve": curves["nrm"],
        }
    )
    if model.has_cure:
        native["cure_probability"] = model.cure_probability(X)[:, None]
    worst = 0.0
    for name in names:
        gap = float(np.max(np.abs(onnx_out[name] - native[name])))
        if not gap <= tolerance:
            raise ParityError(
                f"ONNX {name} differs from the fitted {model.family} two-cause "
                f"model by {gap:.2e} (tolerance {tolerance:.0e}); do not serve "
                "this export"
            )
        worst = max(worst, gap)
    return worst


def recalibrated_outcome_graph(data: bytes, intercept, slope: float) -> onnx.ModelProto:
    """A two-cause graph updated to a new population: the relapse cumulative hazard curve
    becomes exp(intercept) * H^slope (NRM kept; see `training.updating.recalibrate`), the cure
    probability follows (pi' = exp(-exp(a_end) (-log pi)^slope)) and the contributions
    are scaled by `slope`. `intercept`: one number, or one per point of the curve's grid
    (a level that differs between horizons; a_end is its last, the level beyond them)."""
    levels = np.atleast_1d(np.asarray(intercept, float))
    proto = onnx.load_from_string(data)
    graph = proto.graph
    node = helper.make_node
    updated = {
        "relapse_cumhaz_curve": lambda raw, out: [
            node("Log", [raw], [f"{out}_log"]),
            node("Mul", [f"{out}_log", "recalibration_slope"], [f"{out}_scaled"]),
            node("Add", [f"{out}_scaled", "recalibration_intercept"], [f"{out}_shifted"]),
            node("Exp", [f"{out}_shifted"], [out]),
        ],
        "cure_probability": lambda raw, out: [
            node("Log", [raw], [f"{out}_log"]),
            node("Neg", [f"{out}_log"], [f"{out}_cumhaz"]),
            node("Log", [f"{out}_cumhaz"], [f"{out}_log_cumhaz"]),
            node("Mul", [f"{out}_log_cumhaz", "recalibration_slope"], [f"{out}_scaled"]),
            node("Add", [f"{out}_scaled", "recalibration_intercept_end"], [f"{out}_shifted"]),
            node("Exp", [f"{out}_shifted"], [f"{out}_new_cumhaz"]),
            node("Neg", [f"{out}_new_cumhaz"], [f"{out}_neg"]),
            node("Exp", [f"{out}_neg"], [out]),
        ],
        "contributions": lambda raw, out: [node("Mul", [raw, "recalibration_slope"], [out])],
    }
    # Inside the graph the relapse curve's consumers (the integration) take the updated
    # curve; the cure probability's (the mixture itself) keep the fitted one.
    internal = {"cure_probability"}
    nodes = []
    for n in graph.node:
        for i, name in enumerate(n.input):
            if name in internal:
                n.input[i] = f"{name}_before_recalibration"
        added = []
        for i, name in enumerate(n.output):
            if name in updated:
                raw = f"{name}_before_recalibration"
                n.output[i] = raw
                added += updated[name](raw, name)
        nodes += [n, *added]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(
        [
            _const("recalibration_slope", np.array(slope)),
            _const("recalibration_intercept", levels if len(levels) > 1 else levels[0]),
            _const("recalibration_intercept_end", np.array(levels[-1])),
        ]
    )
    onnx.checker.check_model(proto)
    return proto
