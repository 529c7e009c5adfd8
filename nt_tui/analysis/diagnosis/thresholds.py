"""Every threshold the diagnosis uses, with where it comes from.

Gradient ranges, the spike ratio and the clip fraction are the seed diagnostician's healthy
ranges; the rest describe the shape of a loss curve and are stated with their reasoning.
"""

from __future__ import annotations

import math

# --- gradients (seed diagnostician's healthy ranges) -------------------------------------
#: Global gradient norm of a healthy run lies in this range.
GRAD_NORM_HEALTHY = (0.1, 10.0)
#: Above this the gradients are exploding.
GRAD_NORM_EXPLOSION = 100.0
#: Below this the gradients have vanished.
GRAD_NORM_VANISHING = 1e-7
#: Largest / smallest per-layer gradient norm above this is a per-layer imbalance.
LAYER_IMBALANCE_RATIO = 1e6
#: "Orders of magnitude": a grad-norm peak this many times the run's median is a blow-up.
GRAD_BLOWUP_RATIO = 100.0
#: The grad norm's starting level is the median of this many first logged values (one value
#: alone may be the first step's outlier).
GRAD_START_POINTS = 3
#: A norm that rose less than this from its starting level did not blow up, however high it
#: is: it was high from the start (step size or initial scale), one order of magnitude short of
#: the seed's "orders of magnitude".
GRAD_GROWTH_MIN = 10.0
#: Grad-norm bursts on at most this share of logged points, which the loss does not follow
#: (no loss spike, no divergence, no NaN), are transient (clipping absorbs them), not a blow-up;
#: the same share as ISOLATED_SPIKE_MAX_SHARE for loss spikes.
GRAD_TRANSIENT_SHARE = 0.05
#: A blow-up that lasts: the median of a stretch of this share of the logged points (twice
#: GRAD_TRANSIENT_SHARE, so more than a transient share of points must be up) at least
#: GRAD_GROWTH_MIN x the starting level, with the loss at least SPIKE_RATIO x its start over
#: the same steps (it followed the gradients), and gradients not clipped on most steps
#: (clipping caps the update: then the step size did the damage, CLIP_FRACTION_HIGH).
GRAD_SUSTAINED_SHARE = 0.10
#: Grad norm before a NaN this many times its earlier median means it was rising.
GRAD_RISE_BEFORE_NAN = 10.0
#: A grad norm this far below its healthy lower bound is "near zero" (optimizers with
#: epsilon ~1e-8 stop moving there; Adam, Kingma & Ba 2015).
GRAD_NORM_NEAR_ZERO = 1e-4

# --- loss spikes and noise ----------------------------------------------------------------
#: Seed: a loss point more than 2x its moving average is a spike.
SPIKE_RATIO = 2.0
#: Points in the trailing moving average of the seed's spike rule.
SPIKE_AVERAGE_POINTS = 10
#: A statistical spike: this many robust standard deviations above the local median ...
SPIKE_SIGMAS = 6.0
#: ... and at least this far above it, relative (keeps tiny wiggles of smooth logs out).
SPIKE_MIN_REL = 0.10
#: A bad-data spike counts in full from this ratio to the loss around it (halfway to the
#: seed's 2x spike rule); between 1 + SPIKE_MIN_REL and this it counts in proportion, so a
#: 1.1x jump on a smooth healthy curve is not called bad data.
OUTLIER_FULL_RATIO = 1.5
#: A log of window means (RunContext.loss_window) scales a spike back to one batch by at most
#: this window (beyond it, several bad batches in a window become as likely as one).
LOSS_WINDOW_MAX = 10
#: A spike recovers when the loss is back within this share of the local median ...
SPIKE_RECOVERED_REL = 0.05
#: ... plus this many robust sigmas of the points' scatter about that median (a loss logged
#: per step scatters 5-15% from batch to batch: no point of five need land within 5%).
SPIKE_RECOVERED_SIGMAS = 2.0
#: ... within this many logged points.
SPIKE_RECOVERY_POINTS = 5
#: A spike of one or two logged points this many times the loss before it is one batch's
#: loss (garbage or mislabelled data): isolated, whether or not the level after it is back.
ONE_BATCH_SPIKE_RATIO = 10.0
#: A climb of the loss above its minimum is a bad batch's doing when the level after such a
#: spike is up by this share of the climb or more (`rules._bad_batch_climb`) ...
BAD_BATCH_CLIMB_SHARE = 0.5
#: ... and lr_too_high then keeps this share of its climb evidence.
BAD_BATCH_CLIMB_WEIGHT = 0.3
#: Loss spikes in long runs: roll back this many steps before the spike (PaLM, Chowdhery et
#: al. 2022, section 5.1: restart ~100 steps earlier and skip 200-500 batches).
SPIKE_ROLLBACK_STEPS = 100
SPIKE_SKIP_BATCHES = (200, 500)
#: Share of points that may be isolated spikes before the loss counts as unstable.
ISOLATED_SPIKE_MAX_SHARE = 0.05

#: A fast drop then a stall: this share of the decrease or more in the first quarter.
STALL_EARLY_SHARE = 0.8
#: A stall needs a real first drop (several times the plateau band) before it.
STALL_MIN_DROP_REL = 0.1
#: A loss that reaches its plateau within this share of the run stalled at once.
STALL_PLATEAU_SHARE = 0.1
#: Grad-norm bursts in the second half of this many times its median are instability.
GRAD_BURST_RATIO = 5.0

# --- optimizer signals --------------------------------------------------------------------
#: Seed: clipping more than 10% of the steps means the learning rate is too high.
CLIP_FRACTION_HIGH = 0.10
#: Clipped on at least this share of steps, the updates were bounded by the clip threshold:
#: a blow-up then comes from the step size, not from gradients growing unchecked.
CLIP_FRACTION_BOUNDED = 0.5
#: Without a clip fraction in the log: a grad norm above GRAD_NORM_EXPLOSION on this share
#: of logged steps while the loss stays finite and this far (relative) above its minimum
#: means the updates were bounded (clipped, or normalised by Adam): plain unbounded steps of
#: that size overflow the weights within a few steps (the labelled SGD runs at LR 2-8
#: unclipped turned NaN within 20 steps; clipped at LR 40 they ran 300 steps at a loss 1000x
#: its start with the grad norm held at 100-500).
HELD_BLOWUP_SHARE = 0.5
HELD_BLOWUP_RISE_REL = 1.0
#: Update-to-weight ratio of a healthy run (Karpathy, CS231n "babysitting the learning
#: process": ~1e-3); 10x above it is too fast, 100x below too slow.
UPDATE_RATIO_HEALTHY = 1e-3
UPDATE_RATIO_TOO_HIGH = 1e-2
UPDATE_RATIO_TOO_LOW = 1e-5
#: A peak LR this many times the model-size table's value is high; this many times below it
#: is low (the table: nt_tui.config.defaults.SIZE_TABLE, GPT-3 Table 2.1).
LR_TABLE_FACTOR = 3.0
#: An LR this many times off the table is evidence on its own (fine-tuning LRs sit up to
#: ~10x below the pre-training table, so the bar is well above that).
LR_TABLE_EXTREME = 30.0
#: Weight of an LR far above the (Adam) table when the log does not name its optimizer:
#: plain SGD's useful range is 1e-2 to 1, so the value alone stays below what outranks
#: "healthy" (0.6 x 0.75 = 0.45 < ~0.55).
UNKNOWN_OPTIMIZER_LR_WEIGHT = 0.75

# --- learning-rate schedule ---------------------------------------------------------------
#: An LR below this share of its peak is "near zero" (nt-tui's default floor is 10%).
LR_NEAR_ZERO_SHARE = 0.05
#: The schedule is exhausted when this share of the run or more is spent near zero (a
#: cosine schedule that ends at zero spends ~14% of the run below 5% of its peak).
LR_EXHAUSTED_RUN_SHARE = 0.25
#: Warmup counts as missing when the first logged LR is already this share of the peak.
LR_NO_WARMUP_SHARE = 0.9
#: A warmup shorter than this share of the run is too short for a high LR (nt-tui's rule is
#: min(2000 steps, 10% of the run); 1% is 10x shorter).
WARMUP_MIN_SHARE = 0.01

# --- curve shape --------------------------------------------------------------------------
#: The start of a run: the first this share of its steps.
EARLY_SHARE = 0.15
#: A log starting later than this share of its last step is a resumed run: start-of-run
#: checks (initial loss, warmup) do not apply.
RESUMED_START_SHARE = 0.02
#: The tail of the run, for "is it still improving".
TAIL_SHARE = 0.4
#: Healthy curves are convex: this share of the total decrease or more happens in the first
#: 25% of the run; lower means the loss falls too evenly (too small a step size).
CONVEX_SHARE = 0.5
#: A relative change of the smoothed loss below this over the tail is a plateau.
PLATEAU_REL = 0.02
#: An LR that ends at this share of its peak or more was held (no decay at the end).
LR_HELD_SHARE = 0.9
#: A from-scratch loss that falls near-linearly (or speeds up) at an LR logged constant to the
#: end: the step size is the only thing setting the pace, a sign that outranks a fall that
#: merely looks healthy.
LINEAR_AT_CONSTANT_LR_STRENGTH = 0.9
#: A total relative decrease below this is "flat from the start".
FLAT_REL = 0.02
#: The plateau band is at least this many standard errors of the smoothed curve wide (3
#: sigma: a flat curve's smoothed noise stays inside it 99.7% of the time).
PLATEAU_NOISE_SIGMAS = 3.0
#: An LR far above the size table counts against a run still falling slowly when its loss fell
#: less than this in all (full weight at the second value): healthy runs fall by a third or more,
#: the labelled AdamW runs at 100-300x the table fell 4-15% (a healthy SGD run's LR, read as
#: Adam's in a log that does not name it, keeps falling past a third).
HIGH_LR_LEARNED_LITTLE_REL = (0.30, 0.15)
#: ... and a from-scratch loss that fell by a third or more (full discount at the first value,
#: none at the second) contradicts the table: an Adam step 100x too large does not get there.
HIGH_LR_LEARNED_WELL_REL = (0.35, 0.28)
#: A from-scratch run whose loss fell less than this has barely learned (healthy runs fall by
#: a third or more from ln(vocab); a too-small model still learns the easy part first).
BARELY_LEARNED_REL = 0.15
#: The smoothed loss rising this much above its minimum is divergence.
DIVERGENCE_REL = 0.10
#: A loss that blew up in its first steps (to STUCK_BLOWUP_RATIO x the loss before it; a
#: fine-tune's early wobble is no blow-up) and ends within this much of where it started
#: (full at the first value, none at the second) never learned: the step size broke the
#: model (it collapses to a uniform guess), which a warmup would not cure; lr_too_high gets
#: STUCK_AFTER_BLOWUP_STRENGTH of it. Seen with RMSprop at 0.05 on a conv net and an HF GPT-2
#: at LR 5 (bench/diagnosis_foreign.py).
STUCK_AFTER_BLOWUP_REL = (0.02, 0.05)
STUCK_BLOWUP_RATIO = 3.0
STUCK_AFTER_BLOWUP_STRENGTH = 0.85
#: A loss near zero (a model that memorised its data) wobbles by many times its own level
#: from batch to batch: relative climbs and scatter are measured against at least this share
#: of where the loss started (ln(vocab) when known), so 0.001 -> 0.02 is no 20x climb.
LOSS_FLOOR_SHARE = 0.05
#: Single-batch losses logged sparsely (Lightning's default: one step in 50) scatter 10-15%;
#: over 30 points the lowest sits 20-37% under the level (measured on synthetic and Lightning
#: runs of bench/diagnosis_foreign.py). A climb up to this much above it, with validation
#: ending at its best, is that noise, not divergence.
NOISE_CLIMB_MAX_REL = 0.5
#: A loss above ln(vocab) by more than this share of ln(vocab) is far above a uniform guess ...
INIT_EXCESS_SHARE = 0.25
#: ... and at least this many nats above it.
INIT_EXCESS_NATS = 1.0
#: A loss that climbs back this far above its lowest value (relative; full at the second
#: value: it doubled, then tripled) after a high start is a blow-up under way, not a badly
#: scaled start being undone (a bad start's loss wanders a few percent around its floor).
INIT_BLOWUP_RISE_REL = (0.5, 2.0)
#: A loss whose second half swings this much between logged points (relative noise, ramp),
#: once below a uniform guess, is unstable throughout, not recovering from a bad start: the
#: labelled scaled-init runs settle to at most 15% (99th percentile 13%), runs at a huge LR
#: swing 13-106%. (Above a uniform guess at the end the start is still being undone, and
#: huge logits swing too: a classifier with weights x15 still at 65 nats swung 18%.)
INIT_UNSTABLE_NOISE_REL = (0.15, 0.3)
#: ln(440k): no common vocabulary gives a uniform-guess loss above this many nats, so a
#: cross-entropy start above it is bad initialisation whatever the vocabulary.
ANY_VOCAB_MAX_LOSS = math.log(440_000)
#: A loss logged at too few points for a curve (a run that stopped early) diverged when its
#: last value is this many times its first: training lowers the loss, and a doubling is far
#: beyond batch noise (a few percent).
BRIEF_DIVERGED_GROWTH = 2.0
#: An early climb of the loss above its lowest value so far by this share is a warmup spike
#: ... (at the least) ...
EARLY_RISE_REL = 0.05
#: ... and by this many times the run's relative noise (batch noise climbs too: a few sigma).
EARLY_RISE_NOISE = 4.0
#: Strength of "schedule exhausted" for a loss plateau when neither the log nor the config
#: gives the LR: an alternative to name, never the first answer on the loss alone (below the
#: strength at which a problem outranks "healthy", see core.HEALTHY_SUPPRESSION).
UNSEEN_SCHEDULE_STRENGTH = 0.4
#: A log whose first loss point is at this step or later (HF averages 10 steps, Lightning
#: logs every 10th by default) cannot show a spike in the first steps.
COARSE_FIRST_STEP = 5
#: ... and when that first point is above ln(vocab) while the LR stood at its peak from the
#: start, the hidden spike is this strong before the LR's distance from the table adds to it
#: (a fresh model starts at ln(vocab); only a climb in the first steps puts an average there).
HIDDEN_SPIKE_SEEN = 0.45
#: Adam's first steps move each weight by about the LR; at or above this scale (the usual
#: init std of transformer weights: GPT-2, BERT, Llama use 0.02) a run with no warmup spikes
#: in its first steps, fully likely from 10^ADAM_FIRST_STEP_FULL (~4x) it: pre-norm
#: transformers absorb part of the shock, so at 1-3x a spike is likely, not certain. Scored
#: up to ADAM_FIRST_STEP_STRENGTH when the log cannot show those steps, times
#: UNKNOWN_OPTIMIZER_WARMUP_WEIGHT when it does not name the optimizer (0.8 x 0.4 = 0.32 stays
#: below what outranks "healthy": plain SGD at 0.1 with no warmup is common and fine).
ADAM_INIT_SCALE = 0.02
ADAM_FIRST_STEP_FULL = 0.6
ADAM_FIRST_STEP_STRENGTH = 0.8
UNKNOWN_OPTIMIZER_WARMUP_WEIGHT = 0.4
#: A first point above ln(vocab) by less than this share of it is within what a hidden no-
#: warmup spike can add to a 10-step average (measured: 1.1-1.8x in the labelled HF copies);
#: a badly scaled initialisation starts 5-50x above.
INIT_HIDDEN_SPIKE_MAX_SHARE = 1.0
#: A flat loss at a peak LR at or above this cannot blame a tiny step size (Adam's tables for
#: small models stop near 1e-3, SGD's useful range starts near 1e-2): the gradients vanished.
LR_NOT_TINY = 1e-2
#: Plain SGD below this peak LR is slow on networks trained from scratch (its useful range
#: for transformers and MLPs starts near 1e-2; Adam-type tables do not apply to it).
SGD_LR_LOW = 1e-2
#: ... and ends near 1 (transformers with plain SGD train at 0.1-1): above it, each 10x counts
#: fully as a step too large (the labelled SGD runs that blew up used 2-8 unclipped, 40
#: clipped; the healthy ones 0.3-0.5).
SGD_LR_HIGH = 1.0
#: SGD's small-step evidence without a logged grad norm (the contract's lr_too_low has
#: healthy gradients; a loss that fell before it stalled shows they flow, but not their size).
SGD_UNSEEN_GRAD_WEIGHT = 0.9
#: A first logged loss within this share of ln(vocab) is a freshly initialised model's (a
#: fine-tune starts well below it; batch noise at the start is a few percent).
FRESH_START_REL = 0.1
#: A first logged loss under this share of ln(vocab), reached with at most
#: TRAINED_START_LR_SPENT of learning rate summed over the steps before it (estimated as the
#: first logged step x the LR logged there, an upper bound under warmup), comes from a model
#: trained before the log (a fine-tune): a fresh model's first steps at such a small total
#: step size barely leave ln(vocab), and getting a character model under ~0.8 of it takes
#: more than its unigram statistics. Then the start is the first logged loss, not ln(vocab)
#: ("the first drop came before the log" would invent a fall the run never had). The
#: labelled fine-tunes start at 0.53-0.69 of ln(vocab) after 4-10 steps at <= 4e-4; the
#: from-scratch runs' first logged losses are 0.82 or more of it. Without a logged LR, only a
#: start under TRAINED_START_SHARE_WITHOUT_LR of ln(vocab) counts.
TRAINED_START_SHARE = 0.75
TRAINED_START_LR_SPENT = 5e-3
TRAINED_START_SHARE_WITHOUT_LR = 0.5
#: A peak LR at or below this is tiny for any optimizer in common use.
LR_TINY = 1e-4

# --- validation ---------------------------------------------------------------------------
#: A validation loss this much above the previous evaluation counts as a rise (evaluation
#: noise of a few batches is ~0.1-0.5%).
VAL_UP_REL = 0.005
#: A validation loss this much above the previous evaluation before its best is a bounce of a
#: noisy descent (a plateaued validation loss wanders by ~0.5-1% from batch sampling alone).
VAL_BOUNCE_REL = 0.02
#: Validation that jumps this much above the previous evaluation and falls back by as much
#: at the next swings: the weights are thrown about by too large a step. No healthy log of
#: the labelled sets (562, three tools and the engine) has one swing; a leaked, unshuffled or
#: exploding run sometimes does.
VAL_SWING_REL = 0.1
#: Strength of lr_too_high from validation swings: [0] at one, [1] from three.
VAL_SWING_STRENGTH = (0.35, 0.7)
#: A descent that bounces on this share of its evaluations before the best is noisy (full
#: weight; 3 of the first 10, as the evaluations of a short run count), judged over at least
#: VAL_BOUNCE_MIN_EVALS evaluations (a long run's validation, noisy from a few batches, makes a
#: 2% bounce on ~1 in 10 by chance).
VAL_BOUNCE_SHARE = 0.3
VAL_BOUNCE_MIN_EVALS = 10
#: Validation loss rising this much above its best, while train falls, is overfitting.
OVERFIT_RISE_REL = 0.03
#: Train loss must keep falling by this share after the validation minimum.
OVERFIT_TRAIN_FALL_REL = 0.02
#: ... and by more than the scatter of its points: a fall under OVERFIT_FALL_NOISE[0] x the
#: train loss's noise (`LossEvidence.noise_rel`, one point's scatter about the trend) is no
#: fall, one over [1] x is. On the labelled sets every overfitting run's train loss fell >= 2x
#: its noise after the validation best; runs whose step size was far too large, bouncing
#: 10-30% from point to point, "fell" 0.1-0.5x theirs while validation swung up.
OVERFIT_FALL_NOISE = (0.5, 1.5)
#: Validation falling this much below the previous evaluation after its best falls back (a
#: few batches' sampling noise moves it 1-3%) ...
VAL_FALL_BACK_REL = 0.05
#: ... and from this share of the evaluations after the best [0], its rise is a swing more
#: than a climb; at [1] overfitting keeps 30%. No labelled overfitting run falls back that far
#: after its best; runs at a step far too large do on 20-55% of their evaluations.
OVERFIT_FALL_BACK_SHARE = (0.2, 0.4)
#: Validation rising on this many evaluations in a row while train falls >= 2x
#: OVERFIT_TRAIN_FALL_REL is sustained overfitting, scored at least OVERFIT_SUSTAINED_STRENGTH.
OVERFIT_RISING_EVALS = 3
OVERFIT_SUSTAINED_STRENGTH = 0.75
#: A train/val gap above this share of the train loss is "open".
GAP_OPEN_REL = 0.05
#: A freshly initialised model predicts train and validation data equally badly, so in a
#: from-scratch run the gap can only open as far as the train loss falls (gap <= fall /
#: (1 - fall)) unless validation rises. A gap that is this share (ramp) of the fall or more,
#: and at least GAP_BEYOND_FALL_MIN_REL (ramp) of the train loss, was opened before the log
#: began: the model was trained before (a fine-tune, a resumed run). On nt-tui's own runs the
#: tiny-LR runs that fell under 10% keep their gap under 0.1x the fall; the fine-tunes that
#: fell as little sit at 0.5-4x. (A run stuck at too large a step whose first drop came
#: before its first logged point shows such a gap too: it excuses a flat curve, it is no
#: sign of health; `rules._fit_before_log`.)
GAP_BEYOND_FALL_RATIO = (0.5, 0.8)
GAP_BEYOND_FALL_MIN_REL = (0.025, 0.035)
#: Validation at or below train within this share counts as "at or below".
LEAKAGE_TOLERANCE_REL = 0.01
#: Leaked validation tracks train within this share at the end (the same data in eval mode);
#: a set that is well below train is an easier held-out set, not a copy.
LEAKAGE_CLOSE_REL = 0.015
#: After this many passes over the training data a held-out set shows a generalisation gap
#: (memorisation); validation still on top of train by then is not held out. Below half of
#: it the evidence is void: a model too small to memorise its data (a char LSTM over a corpus,
#: an MLP on plentiful samples) keeps validation on the train curve for ten passes and more.
#: Measured: healthy runs of HF, Lightning and plain loops (bench/diagnosis_foreign.py) sat on
#: train at 3-10 epochs; leaked ones ran 26-133 epochs, the engine's own leaked runs 42-63.
LEAKAGE_MIN_EPOCHS = 20.0
#: After this many passes over the training data every model has memorised much of it: a
#: held-out set then sits above train, however much easier it is.
LEAKAGE_MANY_EPOCHS = 30.0
#: With no epoch count in the log, how far validation fell stands in for how long the model
#: trained: a held-out validation loss that more than halves across the evaluations (from the
#: first evaluation, not from the initial loss) has usually opened a gap by then; one that
#: still sits on the train curve is likely the training data. Measured on the labelled set:
#: healthy runs fall 19-36% over their evaluations (47% for an SGD run of the accel
#: generator whose first evaluation came before it had started to learn), leaked ones
#: 54-84%; a real 10-epoch pre-training log in the corpus with validation below train fell
#: 14%.
LEAKAGE_LONG_FALL_REL = (0.4, 0.55)
#: ... and below it, validation on top of train is what any held-out set shows before the
#: model has seen its data more than once: with no epoch count, the leakage evidence keeps
#: LEAKAGE_SHORT_FALL_WEIGHT of its strength at a short fall (rising to LEAKAGE_LONG_FALL_WEIGHT
#: over LEAKAGE_LONG_FALL_REL), so that it stays an alternative, not a rival of "healthy".
LEAKAGE_SHORT_FALL_WEIGHT = 0.05
LEAKAGE_LONG_FALL_WEIGHT = 0.8
#: A curve's shape (plateau onset, the share of its decrease in each stretch, a straight
#: fall) needs points: none below the first value, full weight from the second. Lightning's
#: default of one point in 50 steps leaves a 300-step run 6 points, whose "plateau" is two
#: or three of them (the healthy labelled runs logged so read as underfitting or a small
#: step 6 times in 64); one point in ten leaves it 30.
SHAPE_POINTS = (6, 16)
#: Underfitting: the two curves within this share of each other at the end ...
UNDERFIT_GAP_REL = 0.05
#: ... and the loss changing less than this over the tail of the run (train, or validation
#: where it is flatter: the scatter of single-batch train losses can hide a flat tail).
UNDERFIT_TAIL_REL = 0.03
#: ... unless validation's own tail falls by that bar (ramp over +-20% of it): then
#: validation's tail counts, the flatter train curve notwithstanding.
UNDERFIT_VAL_STILL_FALLING_REL = (0.8 * UNDERFIT_TAIL_REL, 1.2 * UNDERFIT_TAIL_REL)
#: A run that learned under BARELY_LEARNED_REL, fast, and then stopped is a model at its
#: capacity only when validation stopped with it (flat, within PLATEAU_REL of its final value,
#: for UNDERFIT_VAL_FLAT_SHARE of the run) and sits on train: a fine-tune settles the same
#: way, but it learned before, so its validation sits above train (2-14% in the labelled
#: fine-tunes; within UNDERFIT_SETTLED_GAP_REL, falling to none at twice it). Found on 10-class
#: classifiers with a 2-wide bottleneck (bench/diagnosis_foreign.py): 10-13% learned, then flat.
UNDERFIT_VAL_FLAT_SHARE = (0.4, 0.6)
UNDERFIT_SETTLED_GAP_REL = 0.01
#: Evaluations needed to say where validation stopped moving.
VAL_PLATEAU_MIN_EVALS = 5
#: Validation this far above train (ramp) means the model memorises its training data; its
#: loss then climbs through every reshuffled pass (the batches seen last are the easiest) and
#: drops at the next, a pattern in the epoch's phase that is not the data's order. Over the
#: last third of their evaluations the labelled unshuffled runs sit at most 18% apart; a
#: plain-loop MLP memorising 4000 samples with momentum SGD sat 37% apart with that sawtooth
#: (bench/diagnosis_foreign.py).
MEMORISED_GAP_REL = (0.25, 0.4)
#: "Plateau early": a model at its capacity limit has done nearly all of its decrease in the
#: first quarter of the run (from this share up to the second value, full weight); a healthy
#: run that is still learning keeps a sixth or more of its decrease for the last three
#: quarters, however flat its tail looks on a short run with a decaying LR.
UNDERFIT_EARLY_SHARE = (0.7, 0.85)
#: Train and validation stopped together at a high value (`rules._stopped_together_high`):
#: the run learned under the first share of its start (full under the second), validation
#: fell at first by the first share or more (full at the second; a fine-tune that starts at
#: its level does not), its tail changes less than the first share (full under the second),
#: and it sits within the first share of train over the last third of the evaluations (full
#: within the second). Found on the 2-wide bottleneck classifiers of the Lightning, plain and
#: accel generators (bench/diagnosis_foreign.py): learned 10-30%, validation fell 3-21% and
#: then moved under 2% over the last 40%, 0-4% from train; healthy runs of those generators
#: learned more, or keep falling, or bounce far more (long-SGD runs on noisy data).
UNDERFIT_LEARNED_LITTLE_REL = (0.3, 0.22)
UNDERFIT_VAL_FELL_REL = (0.02, 0.04)
UNDERFIT_VAL_TAIL_REL = (0.02, 0.01)
UNDERFIT_TOGETHER_GAP_REL = (0.045, 0.03)
#: ... with the LR still above this share of its peak at the end (a decayed LR flattens any
#: curve).
UNDERFIT_TOGETHER_LR_SHARE = 0.5
#: ... and with validation so stopped, "most of the decrease came early" asks this much less
#: of the first quarter (a bottleneck model creeps on after its first drop).
UNDERFIT_EARLY_SHARE_SHIFT = 0.15
#: A plateau reached while the LR was still above this share of its peak is the model's
#: limit; one reached only as the schedule decayed the LR below LR_PLATEAU_DECAYED_SHARE is
#: the schedule finishing its job (a cosine is at ~40% of its peak at 60% of the run).
LR_PLATEAU_HIGH_SHARE = 0.7
LR_PLATEAU_DECAYED_SHARE = 0.4
#: A stalled run: the smoothed loss has stayed within 2 x PLATEAU_REL of its final value for
#: this share of the run or more (from the first value, full weight at the second) and
#: changed less than STALL_TAIL_REL over the last TAIL_SHARE, while the LR at the plateau's
#: start was still LR_PLATEAU_HIGH_SHARE of its peak or more: the optimizer still takes full
#: steps and nothing comes of them. A stall alone is no fault (healthy runs on the labelled
#: set have the same numbers when their loss reaches what the data allows); it counts only
#: with the signs below.
STALL_SHARE = (0.4, 0.6)
STALL_TAIL_REL = (0.02, 0.01)
#: A stall reached slowly (less than this share of the decrease in the first quarter, where
#: a capacity limit or Adam reach it at once) after learning little (less than
#: SLOW_STALL_DECREASE of the first loss) is what a step size too small for the optimizer
#: does: it crawls to the first plateau and cannot leave it. "healthy" then loses up to
#: STALL_HEALTHY_DISCOUNT of its strength (such a run is not progressing normally).
SLOW_STALL_EARLY_SHARE = (0.75, 0.6)
SLOW_STALL_DECREASE = (0.25, 0.2)
STALL_HEALTHY_DISCOUNT = 0.6
#: A stall in a log that does not name its optimizer, at an LR small for plain SGD: too small
#: a step if the optimizer is SGD, nothing if it is Adam; an alternative, never the answer.
STALL_UNNAMED_OPTIMIZER_STRENGTH = 0.2
#: ... scored up to this strength on its own (it combines with the other signs of a small
#: step by noisy-OR).
SLOW_STALL_STRENGTH = 0.75
#: The other side: a loss that learned little with this share of its decrease or more in the
#: first quarter (full at the second value) dropped fast and stopped, which a step too small
#: does not do (the labelled tiny-LR runs that learned 2-15% did at most 60% of it in the
#: first quarter; a healthy fine-tune 86%, Adam stalled by too large a step ~95%).
FAST_START_EARLY_SHARE = (0.7, 0.85)

# --- periodicity (data order) -------------------------------------------------------------
#: Autocorrelation of the detrended loss at its period above this is a periodic pattern.
PERIOD_ACF_MIN = 0.3
#: ... and above this many standard errors of white noise (1 / sqrt(n)).
PERIOD_ACF_SIGMAS = 4.0
#: Lag-1 autocorrelation of the detrended loss above this is a drift (batches are not
#: independent draws; white noise gives ~0).
DRIFT_ACF_MIN = 0.5
#: ... with a low-frequency amplitude at least this share of the loss level.
DRIFT_MIN_REL = 0.02
#: Spikes recur with the data order when the gaps between them are within this share of a
#: whole number of periods (bad batches of shuffled data land at random steps).
PERIOD_SPIKE_MATCH = 0.15
#: A period within this share of one pass over the training data (steps per epoch, from the
#: log's epoch column) is the data order itself.
PERIOD_EPOCH_MATCH = 0.15
#: Epoch phase (evidence.EpochPhase): the detrended train loss is split into bins of the
#: position within the epoch, at two resolutions: 4 bins catch an order that drifts across
#: the pass (sorted text), 8 a short stretch unlike the rest (a second source appended); the
#: more significant one is kept ...
PHASE_BINS = (4, 8)
#: ... over at least this many passes (the first, the fast initial fall, is left out) ...
PHASE_MIN_EPOCHS = 2.5
#: ... with at least this many logged points per pass and in all.
PHASE_MIN_POINTS_PER_EPOCH = 6
PHASE_MIN_POINTS = 24
#: The phase bins' F statistic must be significant: from the first value (the 0.5% tail of
#: F(bins - 1, 40) for independent batches: 4.98 for 4 bins, 3.51 for 8) to the second (the
#: 0.02% tail: 8.34 and 5.42) ...
PHASE_F = {4: (5.0, 8.0), 8: (3.5, 5.4)}
#: ... and the phase must explain a large share of the detrended variance (full weight at the
#: second value): a partial last batch or a few odd stretches of shuffled data give a
#: significant but small effect (memorising runs of 40-60 short epochs: 3-18%). More bins
#: explain more by chance (null median of eta^2 over ~44 points: 0.06 for 4 bins, 0.15 for
#: 8), so 8 bins need 0.1 more.
PHASE_EXPLAINED = {4: (0.2, 0.35), 8: (0.3, 0.45)}
#: Epoch folding (no epoch column): the period is searched from FOLD_MIN_PERIOD logged points
#: to a quarter of the log (FOLD_MIN_CYCLES cycles), on at most FOLD_MAX_POINTS points, with
#: FOLD_BINS phase bins. The largest F over that many trial periods is large by chance:
#: simulated white noise of 75-600 points, searched exactly so, gives a 99% quantile of
#: 3.6-4.4 and a 99.9% one of 4.1-5.1; the 177 healthy labelled CSV, JSONL and TensorBoard
#: logs (multi-epoch ones included) reach at most 4.3. FOLD_F starts above that tail;
#: FOLD_EXPLAINED keeps a tiny but significant effect of a very long log out.
FOLD_MIN_PERIOD = 16
FOLD_MIN_CYCLES = 4
#: ... and the pattern must repeat: the phase profiles of the even and the odd cycles
#: correlate at least this much (a one-off kink of the curve lands in one cycle).
FOLD_REPEAT_CORRELATION = 0.5
FOLD_MAX_POINTS = 600
FOLD_BINS = 8
FOLD_F = (5.5, 8.5)
FOLD_EXPLAINED = (0.2, 0.35)
#: Fewest points for the periodicity tests.
PERIOD_MIN_POINTS = 40
#: A run whose loss spiked in its first steps (`EARLY_SHARE`; not the data order's recurring
#: spike) is not progressing normally there: healthy keeps 1 - this share.
EARLY_SPIKE_HEALTHY_DISCOUNT = 0.3
