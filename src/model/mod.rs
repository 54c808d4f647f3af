//! Colorization models: a manifest ([`Manifest`]) plus an ONNX file, run by tract.
//!
//! The ONNX graph is parsed once per process; for each input shape it is optimized once into
//! a plan that every later image of that shape reuses.

#[cfg(target_arch = "x86_64")]
mod depthwise_x86;
mod fold;
mod manifest;

pub use fold::{fold_qdq, qlinear_convs, ConvKind, FoldReport};
pub use manifest::{InputSpec, Manifest, OutputSpec};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;

type Plan = TypedRunnableModel;

/// The shipped model's manifest file name.
pub const DEFAULT_MANIFEST: &str = "hued-color-v4-int8.toml";

/// How the model's arithmetic runs (`[colorize] precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f16 on CPUs with half-precision arithmetic (aarch64 `asimdhp`: Pi 5, Orin), else f32.
    #[default]
    Auto,
    /// The int8 file's weights folded to f32 at load, activation Quantize/Dequantize dropped.
    F32,
    /// As f32, then every float op in f16 (only faster where the CPU has f16 arithmetic).
    F16,
    /// The file's QDQ graph as it is (twice as slow under tract; for comparisons).
    Qdq,
}

impl Precision {
    /// `Auto` resolved for this CPU.
    pub fn resolve(self) -> Precision {
        match self {
            Precision::Auto if cpu_has_f16() => Precision::F16,
            Precision::Auto => Precision::F32,
            p => p,
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Qdq => "qdq",
        })
    }
}

/// True on aarch64 CPUs with f16 arithmetic (Cortex-A76 and later), where tract has f16 kernels.
pub fn cpu_has_f16() -> bool {
    cfg!(target_arch = "aarch64") && tract_linalg::has_fp16()
}

/// A loaded model, ready to run at any allowed input size.
pub struct Model {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where the manifest was read from.
    pub manifest_path: PathBuf,
    /// sha256 of the ONNX file, checked against the manifest.
    pub sha256: String,
    /// The precision it runs in (never `Auto`).
    pub precision: Precision,
    /// The graph with symbolic height and width (in units of the manifest's size_multiple).
    graphs: Arc<Graphs>,
    height: Symbol,
    width: Symbol,
    /// For each graph input, in graph order: true for the hint input, false for L.
    inputs_are_hints: Vec<bool>,
    output_index: usize,
    /// Optimized plans by input width, height and whether they take hints.
    plans: Mutex<PlanCache>,
}

/// A plan's input width and height, and whether it takes the hint input (see [`Model::run`]).
type PlanKey = (u32, u32, bool);

/// Plans kept at most. Each holds its own packed copy of the weights (~20 MB for the shipped
/// model) outside the jobs' memory budget, and a kiosk's uploads alone come in 13 shapes, with
/// and without hints: the least recently used plan goes (rebuilding one takes ~0.15 s).
pub const MAX_PLANS: usize = 6;

/// The plans built so far, least recently used first out.
#[derive(Default)]
struct PlanCache {
    slots: HashMap<PlanKey, PlanSlot>,
    clock: u64,
}

struct PlanSlot {
    /// Empty until built. Its own lock: a second photo of a new shape waits for the plan the
    /// first is building instead of building another copy beside it.
    plan: Arc<Mutex<Option<Arc<Plan>>>>,
    last_used: u64,
}

impl PlanCache {
    /// The slot for `key` (new if need be), marked as just used. A run holding a plan keeps
    /// it alive until it is done, whatever the cache does meanwhile.
    fn slot(&mut self, key: PlanKey) -> Arc<Mutex<Option<Arc<Plan>>>> {
        self.clock += 1;
        let clock = self.clock;
        let slot = self.slots.entry(key).or_insert_with(|| PlanSlot { plan: Arc::default(), last_used: 0 });
        slot.last_used = clock;
        slot.plan.clone()
    }

    /// After `key`'s plan was built: the least recently used others go while there are more
    /// than [`MAX_PLANS`] (then, not before: a build that fails pushes nothing out). Not one
    /// being built (its lock is held): a photo asking for it meanwhile would start a second
    /// build instead of waiting for the first.
    fn trim(&mut self, key: PlanKey) {
        let being_built = |s: &PlanSlot| matches!(s.plan.try_lock(), Err(std::sync::TryLockError::WouldBlock));
        while self.slots.len() > MAX_PLANS {
            let evictable = self.slots.iter().filter(|(k, s)| **k != key && !being_built(s));
            let Some(oldest) = evictable.min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) else { break };
            self.slots.remove(&oldest);
        }
    }

    /// Forgets `key`'s slot if it is still `slot` (a build that failed: it should not hold a
    /// place among the kept plans).
    fn forget(&mut self, key: PlanKey, slot: &Arc<Mutex<Option<Arc<Plan>>>>) {
        if self.slots.get(&key).is_some_and(|s| Arc::ptr_eq(&s.plan, slot)) {
            self.slots.remove(&key);
        }
    }
}

/// The model's graph with symbolic height and width, in two stages. Decluttering (tract's
/// graph simplification) takes ~90 ms here, as long as a whole first plan from the typed graph:
/// so the first plan starts from the typed graph at once, while a background thread declutters
/// the symbolic graph for every later size (a plan from it takes ~40 ms).
struct Graphs {
    /// Typed, not decluttered; dropped once the decluttered graph is ready (its memory counts
    /// against the memory budget of a 50 MP scan).
    typed: Mutex<Option<TypedModel>>,
    /// Decluttered (and in f16 where that precision was asked for), once ready.
    decluttered: std::sync::OnceLock<TypedModel>,
    f16: bool,
}

impl Graphs {
    /// Declutters `graph` (and converts it to f16 if asked).
    fn declutter(&self, graph: TypedModel) -> TractResult<TypedModel> {
        let graph = graph.into_decluttered()?;
        if !self.f16 {
            return Ok(graph);
        }
        let to_f16 = tract_onnx::tract_core::transform::get_transform("f32_to_f16")?.context("tract has no f32_to_f16 transform")?;
        to_f16.transform_into(graph)
    }

    /// The graph for one size, ready to optimize (which declutters it too, so an f32 graph is
    /// not decluttered here: only the f16 conversion needs a decluttered graph).
    fn sized(&self, sizes: &HashMap<Symbol, TDim>) -> TractResult<TypedModel> {
        if let Some(graph) = self.decluttered.get() {
            return graph.set_symbols(sizes);
        }
        let typed = self.typed.lock().unwrap().as_ref().map(|typed| typed.set_symbols(sizes));
        match typed {
            Some(sized) if self.f16 => self.declutter(sized?),
            Some(sized) => sized,
            // Taken in between: the decluttered graph is published before the typed one goes.
            None => self.decluttered.get().context("the model's graph is gone")?.set_symbols(sizes),
        }
    }
}

/// The background half of loading: declutter the symbolic graph, publish it, drop the typed one.
fn background_declutter(graphs: &Graphs, typed: TypedModel, name: &str) {
    match graphs.declutter(typed) {
        Ok(graph) => {
            log::trace!("{name}: symbolic graph decluttered");
            let _ = graphs.decluttered.set(graph);
            graphs.typed.lock().unwrap().take();
            // The transforms' scratch memory was freed in this thread's malloc arena, which
            // glibc keeps unless asked: hand it back, so the overlap costs no lasting RSS.
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        // Plans keep starting from the typed graph, and report their own errors.
        Err(e) => log::warn!("{name}: tract cannot simplify the graph once for all sizes: {e:#}"),
    }
}

/// Model output: a and b in Lab units at the model's output resolution.
#[derive(Debug, Clone)]
pub struct AbLow {
    /// Width of the ab maps.
    pub width: usize,
    /// Height of the ab maps.
    pub height: usize,
    /// a, row-major.
    pub a: Vec<f32>,
    /// b, row-major.
    pub b: Vec<f32>,
}

/// Streams a file through sha256.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    sha256_reader(std::fs::File::open(path)?)
}

/// Streams a reader through sha256, hex.
pub fn sha256_reader(mut reader: impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut reader, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// SHA-256 of bytes in memory, hex.
pub fn sha256_bytes(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// Where the shipped model is looked for when the config names none, in order:
/// `$HUED_MODEL_DIR`, `<binary's folder>/../share/hued/models`, `<binary's folder>/models`,
/// `/usr/share/hued/models`, and this source tree's `models/` (for development builds).
pub fn default_manifest_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("HUED_MODEL_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(bin_dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        dirs.push(bin_dir.join("../share/hued/models"));
        dirs.push(bin_dir.join("models"));
    }
    dirs.push(PathBuf::from("/usr/share/hued/models"));
    dirs.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models")));
    dirs.into_iter().map(|d| d.join(DEFAULT_MANIFEST)).collect()
}

/// The manifest to use: the given one, or the first default candidate that exists.
pub fn resolve_manifest(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        // A path to the .onnx is accepted too: its manifest sits beside it.
        if p.extension().is_some_and(|e| e == "onnx") {
            return Ok(p.with_extension("toml"));
        }
        return Ok(p.to_path_buf());
    }
    let candidates = default_manifest_candidates();
    candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
        let list: Vec<_> = candidates.iter().map(|p| p.display().to_string()).collect();
        format!("no model given and the default model was not found in any of: {}", list.join(", "))
    })
}

impl Model {
    /// Loads a manifest and its ONNX file, checking the file's sha256, in the precision that
    /// suits this CPU.
    pub fn load(manifest_path: &Path) -> anyhow::Result<Model> {
        Model::load_with(manifest_path, Precision::Auto)
    }

    /// Loads a manifest and its ONNX file, checking the file's sha256, in `precision`.
    pub fn load_with(manifest_path: &Path, precision: Precision) -> anyhow::Result<Model> {
        Model::load_inner(manifest_path, precision, &[])
    }

    /// As [`Model::load_with`] in f32, with the convolutions of `kinds` run by tract's native
    /// int8 path (`QLinearConv`) instead of folded to f32. Only for `hued bench --infer`, which
    /// measures it on each CPU: on the x86 machine of README's figures every kind was slower.
    #[doc(hidden)]
    pub fn load_with_int8_convs(manifest_path: &Path, kinds: &[ConvKind]) -> anyhow::Result<Model> {
        Model::load_inner(manifest_path, Precision::F32, kinds)
    }

    fn load_inner(manifest_path: &Path, precision: Precision, int8_convs: &[ConvKind]) -> anyhow::Result<Model> {
        let started = std::time::Instant::now();
        let text = std::fs::read_to_string(manifest_path).with_context(|| format!("cannot read model manifest {}", manifest_path.display()))?;
        let manifest = Manifest::parse(&text, manifest_path)?;
        let onnx_path = manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.onnx);
        let bytes = std::fs::read(&onnx_path).with_context(|| format!("cannot read model {}", onnx_path.display()))?;
        let sha256 = sha256_bytes(&bytes);
        if !sha256.eq_ignore_ascii_case(&manifest.sha256) {
            bail!(
                "model {} does not match its manifest {} (sha256 {sha256}, manifest says {}): the file is damaged or the manifest is stale",
                onnx_path.display(),
                manifest_path.display(),
                manifest.sha256
            );
        }
        let cannot = || format!("tract cannot load {}", onnx_path.display());
        // Value infos pin the export size; ignoring them lets one file run at many sizes.
        let onnx = tract_onnx::onnx().with_ignore_value_info(true);
        let mut proto = onnx.proto_model_for_read(&mut bytes.as_slice()).with_context(cannot)?;
        let precision = precision.resolve();
        if precision != Precision::Qdq {
            if let Some(graph) = proto.graph.as_mut() {
                if !int8_convs.is_empty() {
                    let n = qlinear_convs(graph, |kind| int8_convs.contains(&kind));
                    log::debug!("{}: {n} convolutions as QLinearConv ({int8_convs:?})", onnx_path.display());
                }
                let report = fold_qdq(graph);
                log::debug!(
                    "{}: {} constants folded to f32, {} activation Q/DQ pairs dropped",
                    onnx_path.display(),
                    report.constants_folded,
                    report.pairs_dropped
                );
            }
        }
        let mut graph = onnx.model_for_proto_model(&proto).with_context(cannot)?;
        let mut inputs_are_hints = Vec::new();
        for outlet in graph.input_outlets()? {
            let name = &graph.node(outlet.node).name;
            if *name == manifest.input.l_name {
                inputs_are_hints.push(false);
            } else if manifest.input.hints_name.as_deref() == Some(name.as_str()) {
                inputs_are_hints.push(true);
            } else {
                bail!("{}: the model has an input {name:?} that its manifest does not describe", manifest_path.display());
            }
        }
        if !inputs_are_hints.contains(&false) {
            bail!("{}: the model has no input named {:?}", manifest_path.display(), manifest.input.l_name);
        }
        let outputs = graph.output_outlets()?;
        let output_index = outputs
            .iter()
            .position(|&o| graph.outlet_label(o) == Some(manifest.output.name.as_str()) || graph.node(o.node).name == manifest.output.name)
            .with_context(|| format!("{}: the model has no output named {:?}", manifest_path.display(), manifest.output.name))?;
        // Sizes are multiples of the manifest's size_multiple (the network's total stride): in
        // those units tract can prove that a skip connection's shapes match.
        let (height, width) = (graph.symbols.sym("h"), graph.symbols.sym("w"));
        let unit = manifest.input.size_multiple as i64;
        for (i, &hints) in inputs_are_hints.iter().enumerate() {
            let channels = if hints { 3 } else { 1 };
            graph.set_input_fact(i, f32::fact(&[1.to_dim(), channels.to_dim(), height.to_dim() * unit, width.to_dim() * unit]).into())?;
        }
        log::trace!("parsed and folded: {} ms", started.elapsed().as_millis());
        let typed = graph.into_typed().with_context(cannot)?;
        log::trace!("typed: {} ms", started.elapsed().as_millis());
        let graphs = Arc::new(Graphs { typed: Mutex::new(Some(typed.clone())), decluttered: std::sync::OnceLock::new(), f16: precision == Precision::F16 });
        let background = graphs.clone();
        let name = onnx_path.display().to_string();
        std::thread::Builder::new()
            .name("hued-declutter".into())
            .spawn(move || {
                // Lowest priority (Linux nice values are per thread): the first photo's
                // inference, which may overlap this, must not wait for it.
                #[cfg(target_os = "linux")]
                // SAFETY: setpriority has no memory-safety preconditions; who = 0 is this thread.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, 0, 19);
                }
                background_declutter(&background, typed, &name)
            })
            .context("cannot start a thread")?;
        log::debug!("{}: loaded in {} ms ({precision})", onnx_path.display(), started.elapsed().as_millis());
        Ok(Model {
            manifest,
            manifest_path: manifest_path.to_path_buf(),
            sha256,
            precision,
            graphs,
            height,
            width,
            inputs_are_hints,
            output_index,
            plans: Mutex::default(),
        })
    }

    /// Whether the model takes color hints.
    pub fn has_hints(&self) -> bool {
        self.inputs_are_hints.contains(&true)
    }

    /// The optimized plan for one input size, with or without the hint input, built on first use.
    ///
    /// Without hints, the hint input is made a constant of zeros before tract optimizes the
    /// graph: tract then computes the hint branches (pooled hints and their convolutions, a
    /// tenth of the model's time) once, at planning, and the plan adds their constant result.
    /// The colors are those of the full graph given zero hints (tested), and most photos
    /// (every watched folder, and uploads without hints) come without hints.
    fn plan(&self, width: u32, height: u32, with_hints: bool) -> anyhow::Result<Arc<Plan>> {
        let key = (width, height, with_hints && self.has_hints());
        let slot = self.plans.lock().unwrap().slot(key);
        // A build that panicked left nothing in the slot: the next caller builds it again.
        let mut built = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(plan) = built.as_ref() {
            return Ok(plan.clone());
        }
        match self.build_plan(width, height, key.2) {
            Ok(plan) => {
                *built = Some(plan.clone());
                self.plans.lock().unwrap().trim(key);
                Ok(plan)
            }
            Err(e) => {
                drop(built);
                self.plans.lock().unwrap().forget(key, &slot);
                Err(e)
            }
        }
    }

    fn build_plan(&self, width: u32, height: u32, with_hints: bool) -> anyhow::Result<Arc<Plan>> {
        let started = std::time::Instant::now();
        let unit = self.manifest.input.size_multiple;
        anyhow::ensure!(width.is_multiple_of(unit) && height.is_multiple_of(unit), "model input {width}x{height} is not in multiples of {unit}");
        let sizes = HashMap::from([(self.height.clone(), ((height / unit) as i64).to_dim()), (self.width.clone(), ((width / unit) as i64).to_dim())]);
        let plan: Arc<Plan> = self
            .graphs
            .sized(&sizes)
            .and_then(|m| if with_hints { Ok(m) } else { hint_inputs_as_zeros(m, &self.inputs_are_hints) })
            .and_then(|m| m.into_optimized())
            .with_context(|| format!("tract cannot optimize the model for {width}x{height}"))?
            .into_runnable()?;
        log::debug!("plan for {width}x{height}{} built in {} ms", if with_hints { " with hints" } else { "" }, started.elapsed().as_millis());
        Ok(plan)
    }

    /// The nodes (name, operator) of the plan for `width` x `height`, with or without hints:
    /// for tests that check what a plan computes.
    #[doc(hidden)]
    pub fn plan_nodes(&self, width: u32, height: u32, with_hints: bool) -> anyhow::Result<Vec<(String, String)>> {
        let plan = self.plan(width, height, with_hints)?;
        Ok(plan.model().nodes().iter().map(|n| (n.name.clone(), n.op().name().to_string())).collect())
    }

    /// How many plans are built and kept now (at most [`MAX_PLANS`]).
    #[doc(hidden)]
    pub fn cached_plans(&self) -> usize {
        // try_lock: a plan being built is not kept yet, and is not waited for.
        self.plans.lock().unwrap().slots.values().filter(|s| s.plan.try_lock().is_ok_and(|p| p.is_some())).count()
    }

    /// Runs the model on L* (0..=100, row-major, `width` x `height`) with optional hints
    /// (a, b, mask planes of the same size, a and b in Lab units). None = no hints: the same
    /// colors as hint planes of zeros, from a plan without the hint branches (faster).
    pub fn run(&self, l: &[f32], hints: Option<&[f32]>, width: u32, height: u32) -> anyhow::Result<AbLow> {
        let (w, h) = (width as usize, height as usize);
        anyhow::ensure!(l.len() == w * h, "L plane has {} values, expected {w}x{h}", l.len());
        let spec = &self.manifest.input;
        let l_in: Vec<f32> = l.iter().map(|&v| v * spec.l_scale + spec.l_offset).collect();
        let f16 = self.precision == Precision::F16;
        let cast = |t: Tensor| -> anyhow::Result<TValue> { Ok(if f16 { t.cast_to::<f16>()?.into_owned().into() } else { t.into() }) };
        let l_tensor = tract_ndarray::Array4::from_shape_vec((1, 1, h, w), l_in)?.into_tensor();
        let mut inputs = TVec::new();
        for &is_hints in &self.inputs_are_hints {
            if !is_hints {
                inputs.push(cast(l_tensor.clone())?);
            } else if let Some(hints) = hints {
                anyhow::ensure!(hints.len() == 3 * w * h, "hint planes have the wrong size");
                let planes: Vec<f32> = hints.iter().enumerate().map(|(i, &v)| if i < 2 * w * h { v * spec.hint_ab_scale } else { v }).collect();
                inputs.push(cast(tract_ndarray::Array4::from_shape_vec((1, 3, h, w), planes)?.into_tensor())?);
            }
        }
        let plan = self.plan(width, height, hints.is_some())?;
        let outputs = plan.run(inputs).context("tract failed to run the model")?;
        let ab = outputs[self.output_index].cast_to::<f32>()?;
        let ab = ab.to_plain_array_view::<f32>()?;
        let shape = ab.shape().to_vec();
        let down = self.manifest.output.downsample as usize;
        anyhow::ensure!(
            shape.len() == 4 && shape[1] == 2 && shape[2] == h / down && shape[3] == w / down,
            "model output has shape {shape:?}, expected [1, 2, {}, {}]",
            h / down,
            w / down
        );
        let scale = self.manifest.output.ab_scale;
        let (ow, oh) = (shape[3], shape[2]);
        let flat: Vec<f32> = ab.iter().map(|v| v * scale).collect();
        let (a, b) = flat.split_at(ow * oh);
        Ok(AbLow { width: ow, height: oh, a: a.to_vec(), b: b.to_vec() })
    }
}

/// `graph` (with concrete sizes) with the inputs `is_hint` marks (in graph input order)
/// replaced by constants of zeros, no longer inputs: tract then computes whatever depends on
/// them alone once, when it optimizes the graph. Used for the plans without hints, and by
/// `examples/profile_nodes.rs`.
#[doc(hidden)]
pub fn hint_inputs_as_zeros(mut graph: TypedModel, is_hint: &[bool]) -> TractResult<TypedModel> {
    let hint_inputs: Vec<OutletId> = graph.input_outlets()?.iter().zip(is_hint).filter(|(_, &hint)| hint).map(|(&o, _)| o).collect();
    for outlet in hint_inputs {
        let fact = graph.outlet_fact(outlet)?.clone();
        let shape = fact.shape.as_concrete().context("a sized graph has a concrete hint shape")?.to_vec();
        let zeros = Tensor::zero_dt(fact.datum_type, &shape)?;
        graph.node_mut(outlet.node).op = Box::new(tract_onnx::tract_core::ops::konst::Const::new(zeros.into_arc_tensor())?);
        graph.inputs.retain(|&o| o != outlet);
    }
    Ok(graph)
}

/// Sets how many threads tract's matrix products use (process-wide). 0 = one per core.
pub fn set_threads(threads: usize) {
    let n = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    use tract_linalg::multithread::{set_default_executor, Executor};
    set_default_executor(if n > 1 { Executor::multithread(n) } else { Executor::SingleThread });
}
