"""gnnlat.split and gnnlat.identity: one architecture identity, and held-out sets that follow the split."""
import pytest

from gnnlat.genotype import sample_genotypes
from gnnlat.identity import arch_key
from gnnlat.network import NetworkConfig
from gnnlat.predictor import LatencyPredictor, PredictorError
from gnnlat.record import Record
from gnnlat.split import held_out_records, split_records, training_set_meta
from harness.store import Sample

CONFIGS = [NetworkConfig(C=8, layers=5, resolution=r) for r in (8, 16, 24, 32)]


def records() -> list[Record]:
    genotypes = sample_genotypes(6, 1)
    return [Record(g, c, 1.0 + i) for i, (g, c) in enumerate((g, c) for c in CONFIGS for g in genotypes)]


def predictor_trained_on(train: list[Record], split: str) -> LatencyPredictor:
    return LatencyPredictor(meta=training_set_meta(train, split))


def test_store_and_record_share_one_identity():
    r = records()[0]
    sample = Sample(genotype_json=r.genotype.to_json(), config=dict(reversed(r.config.to_dict().items())),
                    backend="cpu", latency_ms=1.0, median_ms=1.0, p90_ms=1.0, cv=0.0, rounds=2, reps=1,
                    round_spread=0.0, noisy=False, fingerprint={})
    assert sample.arch_key == r.key == arch_key(r.genotype.to_json(), r.config.to_dict())
    assert len({x.key for x in records()}) == len(records())


@pytest.mark.parametrize("split", ["architecture", "config"])
def test_held_out_set_is_the_other_side_of_the_training_split(split):
    rs = records()
    train_idx, val_idx = split_records(rs, 0.25, seed=3, by=split)
    predictor = predictor_trained_on([rs[i] for i in train_idx], split)
    assert sorted(r.key for r in held_out_records(predictor, rs)) == sorted(rs[i].key for i in val_idx)


def test_a_config_split_never_scores_on_a_config_it_trained_on():
    rs = records()
    train_idx, _ = split_records(rs, 0.25, seed=3, by="config")
    train = [rs[i] for i in train_idx]
    # A new genotype at a training config: held out by architecture, not by config.
    extra = Record(sample_genotypes(1, 99)[0], train[0].config, 5.0)
    held = held_out_records(predictor_trained_on(train, "config"), rs + [extra])
    assert extra not in held and not {r.config for r in held} & {r.config for r in train}
    assert extra in held_out_records(predictor_trained_on(train, "architecture"), rs + [extra])


def test_no_recorded_training_set_is_an_error():
    with pytest.raises(PredictorError, match="records no training set"):
        held_out_records(LatencyPredictor(meta={}), records())
