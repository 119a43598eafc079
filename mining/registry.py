"""The model registry: the one list of served models and of the runners that serve them.

Everything that needs the list reads it from here: the gateway (which runners to start), the
bootstrap (what to train, with which flags per profile), the Bento build check, the test
fixtures, the runner contract test and the benchmark. Adding a model is one :class:`ModelSpec`
row plus its code: a model family under ``mining/models/``, a ``main(argv) -> dict`` trainer
under ``training/`` and, for a new task, a runner under ``runners/``.

Every model lives in BentoML's store under a fixed name per task, domain and language, with labels
``task``, ``lang`` (where language applies), ``domain`` (where a task has several) and ``arch``,
and metadata holding held-out metrics, the baseline's metrics on the same split, training
parameters, the data fingerprint and the label map (:func:`validate_metadata`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

TASKS = (
    "sentiment",
    "classification",
    "ner",
    "aspects",
    "keywords",
    "demand",
    "recall",
    "sequence",
    "intent",
    "replies",
    "handoff",
)
PROFILES = ("quick", "default", "full")
REQUIRED_METADATA = ("metrics", "baseline_metrics", "params", "data", "label_map")
REQUIRED_DATA_KEYS = ("name", "sha256", "n_train", "n_val", "n_test")

Profile = Literal["quick", "default", "full"]


def model_name(task: str, lang: str | None = None, domain: str | None = None) -> str:
    """Store name of a task's model, e.g. ``sentiment-zh`` or ``ner-products-en``: one name per
    task, domain (where a task has several, e.g. NER on news vs product titles) and language."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return "-".join(p for p in (task, domain, lang) if p)


def validate_metadata(metadata: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming what is missing from a model's metadata."""
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"model metadata lacks {missing}; it has {sorted(metadata)}")
    data_missing = [k for k in REQUIRED_DATA_KEYS if k not in metadata["data"]]
    if data_missing:
        raise ValueError(f"metadata['data'] lacks {data_missing}; it has {sorted(metadata['data'])}")


@dataclass(frozen=True)
class ModelSpec:
    """One served model.

    Attributes:
        task: one of :data:`TASKS`.
        lang: ``zh``, ``en`` or None where language does not apply.
        domain: optional part of the store name (``products`` in ``ner-products-en``).
        runner: key of the :class:`RunnerSpec` that serves it.
        trainer: module under ``training/`` whose ``main(argv) -> dict`` trains it and saves it to
            the store (the dict has the new ``tag``).
        required: the runner refuses to start without it; an optional model is served when the
            store has it.
        quick, default, full: the trainer's flags per bootstrap profile. ``quick``: tiny models in
            minutes (the test suite trains these; metrics meaningless); ``default``: real data with
            short schedules, README command 1; ``full``: the models behind the docs' results.
        upgrade: flags of the head on the multilingual encoder that the staged start trains after
            the default model is served (``training.upgrade``); it replaces the default model only
            where it scores higher on the same validation split. Empty: no upgrade.
        after: store names of models this one's trainer reads from the store (the aspect models
            report the whole-text sentiment model as a baseline), so the bootstrap trains them first.
    """

    task: str
    lang: str | None
    runner: str
    trainer: str
    quick: tuple[str, ...]
    default: tuple[str, ...]
    full: tuple[str, ...]
    domain: str | None = None
    required: bool = True
    upgrade: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The store name, e.g. ``ner-products-en``."""
        return model_name(self.task, self.lang, self.domain)

    @property
    def env(self) -> str:
        """The setting that pins a served version, e.g. ``NER_PRODUCTS_EN_MODEL=ner-products-en:abc``."""
        return self.name.upper().replace("-", "_") + "_MODEL"

    def flags(self, profile: Profile) -> list[str]:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        return list(getattr(self, profile))

    @property
    def selection(self) -> tuple[str, Literal["max", "min"]]:
        """(validation metric in the store metadata's ``metrics``, direction) that decides between
        two versions of this model trained on the same split."""
        return SELECTION[self.task]


# What decides between two versions of a task's model: a validation score every trainer of the
# task writes (for text classifiers, of what is served: network, ensemble or baseline).
SELECTION: dict[str, tuple[str, Literal["max", "min"]]] = {
    "sentiment": ("served_val_accuracy", "max"),
    "classification": ("served_val_accuracy", "max"),
    "ner": ("val_entity_f1", "max"),
    "aspects": ("val_pair_f1", "max"),
    "demand": ("val_wape", "min"),
    "sequence": ("val_ndcg_at_10", "max"),
    "keywords": ("", "max"),
    "recall": ("", "max"),
    "intent": ("served_val_accuracy", "max"),
    "replies": ("val_mrr", "max"),
    "handoff": ("val_auc", "max"),
}


@dataclass(frozen=True)
class RunnerSpec:
    """One runner service: ``service`` is ``module:Class`` under ``runners/`` (imported only by
    the serving side); the gateway holds it as ``<key>_runner``."""

    key: str
    service: str
    models: tuple[str, ...] = field(default=())

    @property
    def attr(self) -> str:
        return f"{self.key}_runner"

    @property
    def class_name(self) -> str:
        return self.service.split(":")[1]


# fmt: off
# Flags per profile. Each default schedule is the cheapest that beats its model's baseline within the first-run
# budget (docs/training.md#default-and-full-quality-models).
_SENTIMENT_ZH_FULL = ("--lang", "zh", "--embed-dropout", "0.2", "--bag-lr", "0.003")
_CATEGORY_ZH_FULL = ("--dataset", "shopping-zh", "--n-splits", "1", "--arch", "bilstm", "--n-buckets", "1048576",
                     "--embed-dropout", "0.2", "--bag-lr", "0.003")
# Default English heads: three frozen MiniLM layers is a serving decision (one shared bottom per text),
# and 4e-4 the rate validation chose for all four (docs/training.md#default-and-full-quality-models).
_FIRST_EN = ("--frozen-layers", "3", "--lr", "4e-4")
_FIRST_ASPECTS = ("--frozen-layers", "3", "--extractor-lr", "4e-4")
# Heads on the multilingual encoder, trained by the staged start once the default models serve:
# its bottom 8 of 12 layers frozen, one pass per text shared by every head of the process.
_E5 = ("--arch", "e5", "--frozen-layers", "8")
# Sentence heads on the encoder are also compared with frozen multilingual USE vectors + logistic regression.
_E5_SENTENCE = (*_E5, "--frozen-baseline")
# Review heads on the encoder (sentiment, category): every training review, best of up to three epochs; epochs 2-3
# read the cached bottom (all ~56,000 training and validation reviews at their own lengths: 2.6 GiB of the 4 GiB
# that --bottom-cache-mb gives by default).
_E5_REVIEWS = (*_E5_SENTENCE, "--max-len", "64", "--epochs", "3", "--patience", "1", "--lr", "1e-4")
# The extractor on the multilingual encoder: its top 4 layers tuned, a character BiLSTM over the piece states
# (validation pair F1 0.7640 against 0.7573 without, aspect F1 0.8324 against 0.7986), best of up to 12 epochs
# with patience 3 (served validation aspect F1 0.8525 and 0.8495 for two seeds, against 0.8361 for 4 epochs with
# patience 1 and 0.8414 for 8 with patience 2 at the second seed; docs/training.md#aspects).
_E5_EXTRACTOR = ("--extractor-arch", "e5", "--frozen-layers", "8", "--extractor-lr", "3e-4", "--extractor-epochs", "12",
                 "--extractor-patience", "3", "--extractor-max-len", "96", "--extractor-char-lstm", "128")
# Chinese aspect polarity on the encoder too (the extractor's frozen bottom), at most 4 epochs
# (the encoder's default): validation accuracy on the gold aspects 0.9112, against 0.9065 with a
# 3-epoch schedule and 0.8902 for the character BiLSTM (docs/training.md#aspects).
_E5_POLARITY_ZH = ("--polarity-arch", "e5")
# The intent head: its Chinese turns seen 8 times an epoch (validation accuracy 0.941 against 0.930 once).
_E5_INTENT = (*_E5, "--max-len", "64", "--epochs", "3", "--patience", "1", "--lr", "2e-4", "--zh-repeat", "8")
# The quick profile trains one rate: its models exercise serving, their scores mean nothing.
_QUICK_EN = ("--frozen-layers", "3", "--lr", "2e-4")
_QUICK_ASPECTS = ("--frozen-layers", "3", "--extractor-lr", "2e-4")
_TINY_CHARS = ("--n-buckets", "8192", "--hidden", "32", "--threads", "1")
# Quick models exist to exercise the networks' serving path (shared bottoms, CRF decoding): they
# keep the network even where their tiny training leaves it below the baseline on validation.
_KEEP_NET = ("--no-baseline-fallback",)

MODELS: tuple[ModelSpec, ...] = (
    # Embedding dropout and a slower bag: the plain network's validation accuracy with less overfitting
    # (docs/training.md#sentiment).
    ModelSpec("sentiment", "zh", "sentiment", "train_sentiment",
              quick=("--lang", "zh", "--max-train-samples", "400", "--epochs", "3", *_TINY_CHARS),
              default=(*_SENTIMENT_ZH_FULL, "--epochs", "1", "--network-samples", "16000"),
              # Stage 2: the multilingual encoder on every training review, best of up to three epochs (chosen on
              # validation over one epoch: served 0.9375 vs 0.9340; docs/training.md#sentiment).
              upgrade=("--lang", "zh", *_E5_REVIEWS),
              full=("--lang", "zh", *_E5_REVIEWS)),
    # Default English heads above MiniLM keep its embeddings and first 3 layers pretrained, so
    # serving runs that part once per text for all of them; the top 3 layers fine-tune at a higher
    # rate, which beats the whole-encoder fine-tune of the same schedule on sentiment and NER
    # (docs/benchmarks.md#inference-cost-per-text). The full profile fine-tunes everything.
    # The quick profile (the tests' store) does the same, so the tests serve shared bottoms.
    ModelSpec("sentiment", "en", "sentiment", "train_sentiment",
              quick=("--lang", "en", "--max-train-samples", "800", "--epochs", "1", "--max-len", "64", "--threads", "1",
                     *_QUICK_EN, *_KEEP_NET),
              # Fine Food reviews and the English ABSA training sentences of one polarity (short texts of four
              # other domains; training.data.absa_sentence_reviews). The network on 1,500 of them, TF-IDF
              # (baseline and ensemble member) on all, as for Chinese: a baseline cut to the network's
              # subsample was 0.807 against 0.827 on all.
              default=("--lang", "en", "--network-samples", "1500", "--epochs", "1", "--max-len", "96",
                       *_FIRST_EN),
              # Stage 2: the encoder on all of them, 2 epochs at 3e-4 (chosen on validation on Fine Food
              # alone: 0.851 against 0.845 with 1,500 reviews; docs/training.md#sentiment).
              upgrade=("--lang", "en", "--epochs", "2", "--max-len", "96", *_E5_SENTENCE, "--lr", "3e-4"),
              full=("--lang", "en")),
    ModelSpec("classification", "en", "classification", "train_classifier",
              quick=("--n-splits", "1", "--epochs", "4", *_TINY_CHARS),
              default=("--n-splits", "1"),
              full=()),
    # Chinese product categories of the vendored shopping reviews.
    ModelSpec("classification", "zh", "classification", "train_classifier", required=False,
              quick=("--dataset", "shopping-zh", "--n-splits", "1", "--max-train-samples", "400", "--epochs", "2",
                     *_TINY_CHARS),
              default=(*_CATEGORY_ZH_FULL, "--max-train-samples", "16000", "--epochs", "1"),
              # Every training review for up to three epochs: validation 0.9106 against 0.9059 for 16,000 reviews
              # and one epoch (docs/training.md#classification).
              upgrade=("--dataset", "shopping-zh", "--n-splits", "1", *_E5_REVIEWS),
              full=_CATEGORY_ZH_FULL),
    ModelSpec("ner", "zh", "ner", "train_ner",
              quick=("--dataset", "msra", "--max-train-samples", "300", "--max-eval-samples", "40", "--epochs", "3",
                     "--hidden", "32", "--bigram-buckets", "4096", "--threads", "1", *_KEEP_NET),
              # The tagger learns from a part, the dictionary baseline reads every training sentence;
              # validation is runs of consecutive sentences, so few articles (and their names) straddle
              # it and training (training.ner_data.block_split).
              default=("--dataset", "msra", "--network-samples", "24000", "--epochs", "2"),
              # Stage 2 reads every sentence once: 8,000 sentences for two epochs (6 min) scored 0.728 on
              # test, all 47,789 for one (14 min in the background) 0.828 (docs/training.md#ner). A
              # character BiLSTM over the piece states (--char-lstm) finds where a name ends inside a
              # piece: validation F1 0.7935 -> 0.8328 on 8,000 sentences, 0.867 -> 0.895 on all, one epoch.
              upgrade=("--dataset", "msra", *_E5, "--epochs", "1", "--lr", "3e-4", "--char-lstm", "128"),
              full=("--dataset", "msra", "--epochs", "10")),
    ModelSpec("ner", "en", "ner", "train_ner",
              quick=("--dataset", "wnut16", "--max-train-samples", "300", "--max-eval-samples", "40", "--epochs", "1",
                     "--threads", "1", *_QUICK_EN, *_KEEP_NET),
              default=("--dataset", "wnut16", "--epochs", "1", *_FIRST_EN),
              upgrade=("--dataset", "wnut16", "--epochs", "2", "--patience", "1", *_E5, "--search", "lr=2e-4,4e-4"),
              full=("--dataset", "wnut16")),
    ModelSpec("ner", "en", "ner", "train_ner", domain="products", required=False,
              quick=("--dataset", "products", "--max-train-samples", "120", "--max-eval-samples", "40", "--epochs", "2",
                     "--threads", "1", *_QUICK_EN, *_KEEP_NET),
              # 371 titles: up to 8 epochs, the best one on validation kept
              default=("--dataset", "products", "--epochs", "8", *_FIRST_EN),
              upgrade=("--dataset", "products", "--epochs", "8", *_E5, "--search", "lr=2e-4,4e-4"),
              full=("--dataset", "products")),
    # Aspect-level sentiment (extractor + aspect-conditioned polarity) on the vendored ABSA archive. The upgrade's
    # extractor reads the multilingual encoder: whole-word aspects that carry to other domains (docs/training.md#aspects).
    ModelSpec("aspects", "zh", "aspects", "train_aspects", required=False,
              quick=("--lang", "zh", "--max-train-samples", "600", "--max-eval-samples", "60", "--extractor-arch", "e5",
                     "--frozen-layers", "10", "--extractor-lr", "5e-4", "--extractor-epochs", "2", "--polarity-epochs",
                     "2", "--threads", "1"),
              default=("--lang", "zh", "--extractor-epochs", "12", "--polarity-epochs", "3"),
              upgrade=("--lang", "zh", *_E5_EXTRACTOR, *_E5_POLARITY_ZH),
              full=("--lang", "zh", *_E5_EXTRACTOR, *_E5_POLARITY_ZH),
              after=("sentiment-zh",)),
    ModelSpec("aspects", "en", "aspects", "train_aspects", required=False,
              quick=("--lang", "en", "--max-train-samples", "120", "--max-eval-samples", "40",
                     "--extractor-epochs", "1", "--polarity-epochs", "1", "--polarity-max-len", "48",
                     "--threads", "1", *_QUICK_ASPECTS),
              default=("--lang", "en", "--max-train-samples", "2000", "--extractor-epochs", "1", "--polarity-epochs", "1",
                       "--polarity-max-len", "64", *_FIRST_ASPECTS),
              # Stage 2: every training sentence, the extractor on the encoder at the rate validation chose before
              # (4e-4 of {2e-4, 4e-4}) for up to 6 epochs, the polarity pair classifier up to 3 (validation pair F1
              # 0.6974 against 0.6742 for 4,500 sentences, 2 and 1 epochs) reading the aspect's sentence (validation
              # polarity accuracy 0.855 against 0.833 for its clause; docs/training.md#aspects).
              upgrade=("--lang", "en", "--extractor-arch", "e5", "--frozen-layers", "8", "--extractor-lr", "4e-4",
                       "--extractor-epochs", "6", "--extractor-patience", "2", "--polarity-epochs", "3",
                       "--polarity-patience", "1", "--polarity-max-len", "96", "--polarity-context", "sentence"),
              full=("--lang", "en", "--extractor-epochs", "4", "--extractor-patience", "2", "--polarity-epochs", "3",
                    "--polarity-max-len", "96", "--polarity-context", "sentence"),
              after=("sentiment-en",)),
    ModelSpec("keywords", None, "keywords", "train_keywords",
              quick=("--max-train-samples", "2000", "--min-df", "1"), default=(), full=()),
    ModelSpec("recall", None, "recall", "train_recall",
              quick=("--trials", "2", "--factors", "16", "--regularization", "10,40", "--alpha", "2", "--iterations",
                     "10"),
              default=(), full=()),
    # Next-item prediction over ordered item events (SASRec-style; a GRU is trained beside it).
    ModelSpec("sequence", None, "sequence", "train_sequence", required=False,
              quick=("--epochs", "2", "--hidden", "16", "--layers", "1", "--max-len", "20", "--no-gru", "--threads", "1"),
              default=("--no-gru", "--no-refit", "--epochs", "10"),
              full=()),
    # Customer-service intents, Chinese and English in one model (data/customer_service/LABELS.md): a character CNN
    # + TF-IDF first, the multilingual encoder in stage 2 (docs/training.md#service-intents).
    ModelSpec("intent", None, "intent", "train_intents", required=False,
              quick=("--arch", "cnn", "--max-train-samples", "600", "--epochs", "2", *_TINY_CHARS),
              default=("--arch", "cnn", "--epochs", "6", "--zh-repeat", "8"),
              upgrade=_E5_INTENT,
              full=_E5_INTENT),
    # The reply ranking of /reply, served beside the intents: lexical first, the multilingual encoder in stage 2
    # (docs/training.md#reply-retrieval).
    ModelSpec("replies", None, "intent", "train_replies", required=False,
              quick=("--max-queries", "40", "--max-val-queries", "40"),
              default=(),
              upgrade=("--arch", "e5"),
              full=("--arch", "e5")),
    # When a person should take over /reply's conversation: P(low satisfaction) from the customer's turns, learnt
    # on STC-3's scored dialogues, one model per language (docs/training.md#hand-over).
    *(ModelSpec("handoff", lang, "intent", "train_handoff", required=False,
                quick=("--lang", lang, "--max-train-samples", "300", "--folds", "3", "--c", "3", "--max-reviews", "2000",
                       "--sentiment-c", "1", "--n-boot", "100"),
                default=("--lang", lang), full=("--lang", lang))
      for lang in ("zh", "en")),
    ModelSpec("demand", None, "demand", "train_demand",
              quick=("--max-train-samples", "20", "--origins", "12", "--epochs", "2", "--hidden", "16", "--lr", "3e-3",
                     "--seeds", "1", "--threads", "1"),
              default=("--seeds", "1"),
              full=()),
)
# fmt: on

RUNNERS: tuple[RunnerSpec, ...] = tuple(
    RunnerSpec(key, service, tuple(m.name for m in MODELS if m.runner == key))
    for key, service in (
        ("sentiment", "runners.sentiment:SentimentRunner"),
        ("classification", "runners.classification:ClassificationRunner"),
        ("ner", "runners.ner:NerRunner"),
        ("aspects", "runners.aspects:AspectsRunner"),
        ("keywords", "runners.keywords:KeywordsRunner"),
        ("recall", "runners.recall:RecallRunner"),
        ("sequence", "runners.sequence:SequenceRunner"),
        ("demand", "runners.demand:DemandRunner"),
        ("intent", "runners.intent:IntentRunner"),
    )
)


def model(name: str) -> ModelSpec:
    """The spec of store name ``name``; ``KeyError`` naming the known ones otherwise."""
    for spec in MODELS:
        if spec.name == name:
            return spec
    raise KeyError(f"no model {name!r} in the registry; known: {[m.name for m in MODELS]}")


def models_of(runner: str) -> tuple[ModelSpec, ...]:
    """The models a runner serves, in registry order."""
    return tuple(m for m in MODELS if m.runner == runner)


def runner(key: str) -> RunnerSpec:
    for spec in RUNNERS:
        if spec.key == key:
            return spec
    raise KeyError(f"no runner {key!r} in the registry; known: {[r.key for r in RUNNERS]}")
