"""Training and generation on CPU with a tiny Llama built from a config and a byte-level BPE
tokenizer trained here; the data is the demo build."""

import json
from pathlib import Path

import pytest

from .conftest import generate, train


def options(demo, model, out, **kw):
    from trainer.train import TrainOptions

    return TrainOptions(
        dataset=str(demo), config="zh-plug", model=str(model), output_dir=out, preset="quick", **kw
    )


def test_labels_cover_exactly_the_assistant_tokens_and_eos(demo, tiny_llama, tmp_path):
    from trainer.train import build_trainer

    setup = build_trainer(options(demo, tiny_llama, tmp_path, max_steps=1))
    trainer, hp, raw, tokenizer = (
        setup.trainer,
        setup.hyperparameters,
        setup.train_data,
        setup.tokenizer,
    )
    example = trainer.train_dataset[0]
    batch = trainer.data_collator([example])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    prompt_ids = tokenizer.apply_chat_template(
        raw[0]["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False
    )
    n = len(prompt_ids)
    assert ids[:n] == prompt_ids  # the training prefix is the generation prompt, token for token
    assert all(label == -100 for label in labels[:n])
    end = ids.index(tokenizer.eos_token_id, n) + 1  # the completion's loss ends at eos
    assert labels[n:end] == ids[n:end] and set(labels[end:]) <= {-100}
    answer = tokenizer.decode([t for t in labels if t != -100])
    assert answer.startswith(raw[0]["completion"][0]["content"][:20])
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert hp["loss_average"] == "token" and hp["effective_batch_size"] == 8
    # The validation split is evaluated at the end of each epoch unless told otherwise.
    assert trainer.args.eval_strategy == "epoch" and len(trainer.eval_dataset) == len(
        setup.validation
    )


def test_generation_prompt_equals_training_prefix(demo, tiny_llama):
    import datasets

    from trainer.answers import prompt_text
    from trainer.common import load_tokenizer

    tokenizer, _ = load_tokenizer(str(tiny_llama))
    triples = {t["id"]: t for t in datasets.load_dataset(str(demo), "zh", split="train")}
    for row in datasets.load_dataset(str(demo), "zh-plug", split="train").select(range(6)):
        if row["kind"] != "plug":
            continue
        train_prefix = tokenizer.apply_chat_template(
            row["prompt"], add_generation_prompt=True, tokenize=False
        )
        assert prompt_text(tokenizer, "plug", triples[row["id"]]) == train_prefix
        full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        assert full.startswith(train_prefix)


@pytest.fixture(scope="module")
def trained(demo, tiny_llama, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model"
    hp = ["--preset", "quick", "--max-steps", 20, "--learning-rate", "1e-2"]
    hp += ["--per-device-batch-size", 4, "--global-batch-size", 4, "--eval-steps", 10]
    result = train(demo, tiny_llama, out, *hp)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_loss_falls_over_20_steps_and_the_run_is_recorded(trained):
    out, output = trained
    manifest = json.loads((out / "plugdata_run.json").read_text())
    assert manifest["steps"] == 20
    first, last = (float(x) for x in output.split("loss ")[1].split(";")[0].split(" -> "))
    assert last < first * 0.85, output
    assert manifest["loss_average"] == "token"
    assert set(manifest["tokens_seen_per_language"]) == {"zh", "en"}
    assert len(manifest["template_sha256"]) == 64 and len(manifest["dataset"]["sha256"]) == 64
    assert manifest["hyperparameters"]["learning_rate"] == 1e-2
    assert manifest["sequence_start"] == ""  # the tiny Llama's byte-level BPE adds no BOS
    # Given absolute local paths, the record names only the folders, never where they lie.
    assert "/" not in manifest["model"] and "/" not in manifest["dataset"]["id"]


def test_the_validation_loss_is_shown_and_recorded_every_eval_steps(trained):
    out, output = trained
    evaluation = json.loads((out / "plugdata_run.json").read_text())["evaluation"]
    assert evaluation["split"] == "validation" and evaluation["every"] == "10 steps"
    assert [e["step"] for e in evaluation["losses"]] == [10, 20]
    first, last = (e["loss"] for e in evaluation["losses"])
    assert last < first, evaluation
    rows = evaluation["rows"]
    assert f"validation ({rows} rows) loss {first:.3f} -> {last:.3f} (2 evaluations)" in output
    assert output.count("'eval_loss'") == 2  # in the progress output, as each one ends


def test_generate_from_the_saved_model_extracts_and_resumes(trained, demo, tmp_path):
    out, _ = trained
    answers = tmp_path / "answers.jsonl"
    args = ["--limit", 5, "--max-new-tokens", 24, "--split", "train"]
    result = generate(out, demo, answers, *args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(lines) == 5
    assert {x["extraction"] for x in lines} <= {"ok", "marker-missing", "empty"}
    assert all(x["lang"] == "zh" and x["method"] == "plug" and "raw_output" in x for x in lines)
    again = generate(out, demo, answers, *args)
    assert "generated 0 answers (5 already in" in again.output


def test_generation_prompts_with_the_system_turn_the_model_was_trained_with(trained, demo):
    import shutil

    import datasets

    from trainer.answers import prompt_text
    from trainer.common import load_tokenizer, trained_system_prompts

    out, _ = trained
    row = datasets.load_dataset(str(demo), "zh-plug", split="train")[0]
    recorded = json.loads((out / "plugdata_run.json").read_text())["system_prompt"]
    assert recorded == row["prompt"][0]["content"]  # what the training rows held
    # A recipe of its own wording (or none) reaches generation through the run manifest.
    other = out.parent / "own-prompt"
    shutil.copytree(out, other, dirs_exist_ok=True)
    manifest = json.loads((other / "plugdata_run.json").read_text())
    manifest["system_prompt"] = "Interpret in English, then answer in both."
    (other / "plugdata_run.json").write_text(json.dumps(manifest))
    tokenizer, _ = load_tokenizer(str(other))
    triple = datasets.load_dataset(str(demo), "zh", split="train")[0]
    text = prompt_text(tokenizer, "plug", triple, trained_system_prompts(str(other), "plug"))
    assert "Interpret in English, then answer in both." in text and recorded not in text
    assert trained_system_prompts(str(other), "mono") is None  # trained on another method
    manifest["system_prompt"] = None
    (other / "plugdata_run.json").write_text(json.dumps(manifest))
    bare = prompt_text(tokenizer, "plug", triple, trained_system_prompts(str(other), "plug"))
    assert "<|system|>" not in bare and triple["target_instruction"] in bare


def test_other_run_in_output_dir_is_refused(trained, demo, tiny_llama):
    out, _ = trained
    result = train(demo, tiny_llama, out, config="zh-mono")
    assert result.exit_code == 1 and "holds another run" in result.output


def test_eval_steps_without_evaluation_is_a_one_line_error(demo, tiny_llama, tmp_path):
    from .conftest import one_line_error

    result = train(demo, tiny_llama, tmp_path / "o", "--no-eval", "--eval-steps", 5)
    assert one_line_error(result) == (
        "Error: --eval-steps evaluates; --no-eval turns evaluation off: pick one"
    )


def test_bad_inputs_are_one_line_errors(demo, tiny_llama, tmp_path):
    not_training = train(demo, tiny_llama, tmp_path / "o", config="zh")
    assert not_training.exit_code == 1 and "not a training config" in not_training.output
    unknown = train(demo, tiny_llama, tmp_path / "o", config="zh-nope")
    assert unknown.exit_code == 1 and "zh-nope" in unknown.output
    missing = train(demo, tmp_path / "missing", tmp_path / "o")
    assert missing.exit_code == 1 and "no such directory" in missing.output
    for r in (not_training, unknown, missing):
        assert "Traceback" not in r.output


def test_per_example_loss_weights_examples_equally():
    import torch

    from trainer.train import per_example_losses

    # Two examples in padded rows, then the same two packed into one padding-free row.
    log_probs = -torch.tensor([[1.0, 1.0, 1.0], [5.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    assert per_example_losses(log_probs, mask).tolist() == [1.0, 5.0]
    packed = -torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0, 5.0]])
    packed_mask = torch.tensor([[False, True, True, True, False, True]])
    positions = torch.tensor([[0, 1, 2, 3, 4, 0, 1]])  # the second example starts at token 5
    assert per_example_losses(packed, packed_mask, positions).tolist() == [1.0, 5.0]


def one_step(demo, model, out, per_device: int, average: str) -> tuple[float, float, float]:
    """Logged loss and gradient norm of one optimizer step over the same 4 rows, and the
    validation loss after it (evaluated in batches of `per_device`)."""
    import torch

    from trainer.train import build_trainer

    torch.manual_seed(0)
    opts = options(demo, model, out, max_steps=1, global_batch_size=4, loss_average=average)
    opts.per_device_batch_size = per_device
    setup = build_trainer(opts)
    trainer = setup.trainer
    assert setup.hyperparameters["gradient_accumulation_steps"] == 4 // per_device
    trainer.train_dataset = trainer.train_dataset.select(range(4))
    trainer.train()
    log = next(e for e in trainer.state.log_history if "loss" in e)
    evaluated = next(e for e in trainer.state.log_history if "eval_loss" in e)
    return log["loss"], log["grad_norm"], evaluated["eval_loss"]


@pytest.mark.parametrize("average", ["example", "token"])
def test_loss_and_gradients_do_not_depend_on_the_batch_split(demo, tiny_llama, tmp_path, average):
    (loss, norm, valid), *others = [
        one_step(demo, tiny_llama, tmp_path / str(n), n, average) for n in (1, 2, 4)
    ]
    for other_loss, other_norm, other_valid in others:
        assert abs(other_loss - loss) / loss < 1e-4, (average, loss, other_loss)
        assert abs(other_norm - norm) / norm < 1e-4, (average, norm, other_norm)
        if average == "example":  # a mean over examples, however they are batched
            assert abs(other_valid - valid) / valid < 1e-4, (valid, other_valid)


def test_loss_ends_at_eos_in_every_row(demo, tiny_llama, tmp_path):
    from trainer.train import build_trainer

    setup = build_trainer(options(demo, tiny_llama, tmp_path, max_steps=1, evaluate=False))
    trainer, tokenizer = setup.trainer, setup.tokenizer
    assert trainer.args.eval_strategy == "no" and trainer.eval_dataset is None
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    for labels in batch["labels"].tolist():
        labelled = [t for t in labels if t != -100]
        assert labelled[-1] == tokenizer.eos_token_id, tokenizer.decode(labelled[-3:])


@pytest.mark.parametrize("name", ["ddp", "zero3", "fsdp2"])
def test_accelerate_configs_parse(name):
    import yaml
    from accelerate.commands.config.config_args import ClusterConfig

    path = Path(__file__).resolve().parents[1] / "trainer" / "configs" / f"{name}.yaml"
    config = ClusterConfig.from_yaml_file(str(path))
    assert config.mixed_precision == "bf16"
    expected = {"ddp": "MULTI_GPU", "zero3": "DEEPSPEED", "fsdp2": "FSDP"}[name]
    assert str(config.distributed_type).endswith(expected)
    if name == "zero3":
        assert yaml.safe_load(path.read_text())["deepspeed_config"]["zero_stage"] == 3


@pytest.mark.slow
def test_smollm2_fine_tunes_from_its_gguf_file_and_generates(demo, smollm2_gguf, tmp_path):
    """Trained from the .gguf file as released (dequantised on load), saved as an ordinary
    model, then generating; a folder is what the tiny models' tests train from."""
    out = tmp_path / "smol"
    hp = ["--preset", "quick", "--max-steps", 2, "--max-length", 128, "--learning-rate", "1e-5"]
    hp += ["--per-device-batch-size", 2, "--global-batch-size", 2, "--no-eval"]
    result = train(demo, smollm2_gguf, out, *hp)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("not evaluated: --no-eval")
    manifest = json.loads((out / "plugdata_run.json").read_text())
    assert manifest["steps"] == 2 and manifest["model"] == smollm2_gguf.name  # no local path
    assert manifest["evaluation"] == {"skipped": "--no-eval"}
    # SmolLM2's tokenizer names a BOS but puts none before a text: nothing is added.
    assert manifest["sequence_start"] == ""
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config
    answers = tmp_path / "a.jsonl"
    result = generate(
        out, demo, answers, "--limit", 2, "--max-new-tokens", 8, "--split", "validation"
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(lines) == 2 and all(x["raw_output"] for x in lines)


@pytest.mark.slow
def test_generate_batches_with_a_model_whose_pad_is_eos(demo, smollm2, tmp_path):
    """The usual baseline is an instruct model as released: SmolLM2 pads with eos and has no
    spare embedding, so generation must pad with a token the model knows."""
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(smollm2).pad_token == "<|im_end|>"
    answers = tmp_path / "a.jsonl"
    result = generate(
        smollm2, demo, answers, "--batch-size", 3, "--max-new-tokens", 4, method="mono"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(rows) == 3 and all(r["raw_output"] for r in rows)


def test_the_quick_preset_takes_one_row_at_a_time_on_one_device(tmp_path):
    """Activations scale with the per-device batch: one row per pass keeps a CPU run of a
    135M model near 3 GB (bench/bench_train.py); accumulation keeps the global batch."""
    from trainer.options import TrainOptions
    from trainer.train import resolve

    options = TrainOptions(
        dataset="d", config="zh-plug", model="m", output_dir=tmp_path, preset="quick"
    )
    hp = resolve(options, world_size=1)
    assert (hp["per_device_batch_size"], hp["gradient_accumulation_steps"]) == (1, 8)
    assert hp["gradient_checkpointing"] and hp["effective_batch_size"] == 8
