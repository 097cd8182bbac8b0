"""The sft-baseline agent: a fixed post-training recipe, no LLM involved.

Runs inside the sandbox like any agent: loads the base model, fine-tunes it with TRL's
SFTTrainer on the benchmark's allowed training split (loss on the answer only, in the chat
template the evaluation prompts with: the reference's from the task folder's templates/, or
for arith the model's own), watches `timer.sh`
and stops early enough to save `final_model/`. Benchmarks without an allowed training
split get the base model back unchanged, and say so.

    python -m ptb.agents.recipes.sft --base-model PATH --benchmark B --out final_model

Training cut short by the budget leaves a one-line note in `STOPPED` (the cell puts it in
result.json `notes`): a model trained for a fraction of its steps is not the recipe's result.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

STOPPED = "sft_stopped_early.txt"  # in the task folder (the working directory)
# tiny-qwen3 on arith: once the train token accuracy over a logging window (50 steps) passes
# this, more steps gain nothing (98% of exact answers at ~580 steps, where it was 0.994-0.997).
# A rule on steps, not on time, so the result does not depend on the host's load.
TINY_STOP_AT_TOKEN_ACCURACY = 0.995


def time_left(timer: Path) -> float | None:
    """Seconds left, as `bash timer.sh` prints them; None where there is no timer."""
    if not timer.is_file():
        return None
    out = subprocess.run(["bash", str(timer)], capture_output=True, text=True).stdout
    m = re.search(r"\((\d+) seconds\)", out)
    return float(m.group(1)) if m else None


def hyperparameters(n_params: int) -> dict:
    if n_params < 10_000_000:
        # tiny-qwen3 on CPU: reaches 95% on arith in ~800 steps; lr 1e-2 diverges.
        return dict(learning_rate=3e-3, per_device_train_batch_size=64, gradient_accumulation_steps=1,
                    warmup_steps=50, max_steps=900, num_train_epochs=1, bf16=False, gradient_checkpointing=False)
    # 1.7B-4B models on one H100: full fine-tune, bf16, effective batch 32, two epochs.
    return dict(learning_rate=1e-5, per_device_train_batch_size=8, gradient_accumulation_steps=4,
                warmup_steps=20, max_steps=-1, num_train_epochs=2, bf16=True, gradient_checkpointing=True,
                lr_scheduler_type="cosine")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-model", required=True, type=Path)
    ap.add_argument("--benchmark", required=True)
    ap.add_argument("--out", default=Path("final_model"), type=Path)
    ap.add_argument("--timer", default=Path("timer.sh"), type=Path)
    ap.add_argument("--reserve-s", type=float, default=None, help="stop when this little time is left")
    args = ap.parse_args(argv)

    from ptb.benchmarks import BENCHMARKS

    bench = BENCHMARKS[args.benchmark]
    if bench.train_pairs is None:
        print(f"{args.benchmark} has no allowed training split: final_model = the base model, unchanged")
        shutil.copytree(args.base_model, args.out, symlinks=False, dirs_exist_ok=True)
        return 0

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from ptb.eval import chat

    tokenizer = AutoTokenizer.from_pretrained(args.base_model)
    if bench.chat_template == "reference":  # train in the format the evaluation prompts with
        tokenizer.chat_template = chat.template_for(args.base_model, folder=Path("templates"))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(args.base_model, dtype=torch.bfloat16 if cuda else torch.float32)
    hp = hyperparameters(model.num_parameters())
    if not cuda:
        hp["bf16"] = False
    tiny = model.num_parameters() < 10_000_000
    if not cuda and tiny:
        # tiny-qwen3's matmuls are too small to split across cores: one thread beat two at every
        # load measured on a 2-core host (4 to 10), and never waits for a descheduled partner.
        torch.set_num_threads(1)

    rows = [{"prompt": msgs, "completion": [{"role": "assistant", "content": answer}]}
            for msgs, answer in bench.train_pairs()]
    budget_left = time_left(args.timer)
    reserve = args.reserve_s if args.reserve_s is not None else max(30.0, 0.05 * (budget_left or 0))

    class StopInTime(TrainerCallback):
        """Checks timer.sh every few steps; stops training while there is time to save. A tiny
        model also stops once it has learnt its task (TINY_STOP_AT_TOKEN_ACCURACY)."""

        def __init__(self):
            self.last_check = 0.0

        def on_log(self, targs, state, control, logs=None, **kw):
            accuracy = (logs or {}).get("mean_token_accuracy")
            if tiny and accuracy is not None and accuracy >= TINY_STOP_AT_TOKEN_ACCURACY:
                print(f"step {state.global_step}: train token accuracy {accuracy:.4f}, learnt: stopping", flush=True)
                control.should_training_stop = True

        def on_step_end(self, targs, state, control, **kw):
            if time.monotonic() - self.last_check < 10:
                return
            self.last_check = time.monotonic()
            left = time_left(args.timer)
            if left is not None and left < reserve:
                note = (f"sft-baseline: training stopped by the time budget at step {state.global_step} "
                        f"of {state.max_steps} ({left:.0f} s left)")
                print(note, flush=True)
                Path(STOPPED).write_text(note + "\n")
                control.should_training_stop = True

    config = SFTConfig(
        output_dir=str(Path("sft_work")),
        use_cpu=not cuda,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        max_length=2048,
        seed=0,
        disable_tqdm=True,
        **hp,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[StopInTime()])
    trainer.train()
    trainer.save_model(str(args.out))
    tokenizer.save_pretrained(str(args.out))
    print(f"saved {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
