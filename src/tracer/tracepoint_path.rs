//! The tracepoint path: sock:inet_sock_set_state, and for -L the connect(2)
//! syscall tracepoints.
//!
//! The state program attaches as a raw tracepoint where it can (4.17+, with
//! BTF for the socket layout): the kernel then calls it with the
//! tracepoint's arguments, instead of first building a perf record of every
//! state change of every TCP socket, most of which the program drops. That
//! record is what tracing costs a host most, so this is the fast path. From
//! 5.11 it is a BTF tracepoint program on the same hook, which reads the
//! socket and the task with plain loads instead of helper calls. Elsewhere
//! it attaches as a perf tracepoint event, reading the record's fields at
//! the offsets this kernel's tracefs format gives.

use super::attachment::Attachment;
use super::calibrate::{ensure_sk_err, SkErrProbe};
use super::choice::TracepointPlan;
use super::constants::Constants;
use super::log::Log;
use super::session::Session;
use crate::abi;
use crate::attach::raw_tracepoint::{attach_btf_tracepoint, attach_raw_tracepoint, RawTracepointLink};
use crate::attach::tracepoint::attach_tracepoint;
use crate::error::Error;
use crate::layout::socket::SocketLayout;
use crate::layout::task::BtfTracepoint;
use crate::loader::FieldLayout;
use crate::tracefs::format::{self, Field};
use crate::tracefs::TracefsError;
use crate::uapi::{BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_PROG_TYPE_TRACEPOINT};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

pub(super) fn start_tracepoint(
    session: &mut Session,
    plan: &TracepointPlan,
    log: Log<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let mut progs = Vec::new();
    let mut links = Vec::new();
    if session.constants.lport_defer {
        attach_connect_syscalls(session, &mut progs, &mut links)?;
        log(format_args!("attach: tracepoints syscalls:sys_enter_connect, sys_exit_connect (-L)"));
    }
    // Where BTF gives the socket layout: the BTF tracepoint, else the raw one.
    let fast = plan.raw.as_ref().map_err(Clone::clone).and_then(|layout| {
        let btf = plan.btf.as_ref().map_err(Clone::clone);
        match btf.and_then(|btf| attach_btf_state_program(session, layout, btf)) {
            Ok(attached) => Ok((attached, "BTF tracepoint", "socket and task layout from BTF")),
            Err(reason) => {
                log(format_args!("BTF tracepoint unavailable ({reason}); using the raw tracepoint"));
                let attached = attach_raw_state_program(session, layout)?;
                Ok((attached, "raw tracepoint", "socket layout from BTF"))
            }
        }
    });
    match fast {
        Ok(((prog, link), method, layout)) => {
            // Both load only with BTF, which gave sk_err too.
            ensure_sk_err(session, &SkErrProbe::Tracepoint { id: plan.id, fields: &HashMap::new() }, log)?;
            progs.push(prog);
            links.push(Attachment::Raw(link));
            log(format_args!("attach: {method} {category}:{name} ({layout})"));
        }
        Err(reason) => {
            log(format_args!("raw tracepoint unavailable ({reason}); using the perf tracepoint event"));
            let fields = tracepoint_field_layouts(&session.tracefs.tracepoint_fields(category, name)?)?;
            ensure_sk_err(session, &SkErrProbe::Tracepoint { id: plan.id, fields: &fields }, log)?;
            let prog = session.load(
                abi::PROG_STATE_TRACEPOINT,
                BPF_PROG_TYPE_TRACEPOINT,
                &session.constants,
                &fields,
                0,
            )?;
            let link = attach_tracepoint(plan.id, prog.as_fd(), session.attach_cpu())
                .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
            progs.push(prog);
            links.push(Attachment::Perf(link));
            log(format_args!("attach: tracepoint {category}:{name}"));
        }
    }
    Ok((progs, links))
}

/// The state program as a BTF tracepoint program, linked with the socket
/// and task layouts from BTF, attached; why not, as one line for -v. Every
/// failure (a kernel before 5.11, a verifier that refuses a load) falls
/// back to the raw tracepoint program.
fn attach_btf_state_program(
    session: &Session,
    layout: &SocketLayout,
    btf: &BtfTracepoint,
) -> Result<(OwnedFd, RawTracepointLink), String> {
    let constants = Constants { task: btf.task, ..session.constants.with_socket_layout(layout) };
    let prog = session
        .load_btf_tracepoint(abi::PROG_STATE_BTF_TRACEPOINT, &constants, btf.btf_id)
        .map_err(|e| e.first_line())?;
    let link = attach_btf_tracepoint(prog.as_fd()).map_err(|e| e.to_string())?;
    Ok((prog, link))
}

/// The state program as a raw tracepoint program, linked with the socket
/// layout from BTF, attached; why not, as one line for -v. Every failure
/// falls back to the perf tracepoint event, which needs neither BTF nor
/// 4.17.
fn attach_raw_state_program(
    session: &Session,
    layout: &SocketLayout,
) -> Result<(OwnedFd, RawTracepointLink), String> {
    let constants = session.constants.with_socket_layout(layout);
    let prog = session
        .load(abi::PROG_STATE_RAW_TRACEPOINT, BPF_PROG_TYPE_RAW_TRACEPOINT, &constants, &HashMap::new(), 0)
        .map_err(|e| e.first_line())?;
    let link = attach_raw_tracepoint(abi::STATE_RAW_TRACEPOINT, prog.as_fd()).map_err(|e| e.to_string())?;
    Ok((prog, link))
}

/// -L: the connect(2) syscall tracepoints. Exit before entry: no thread is
/// marked "in connect" without the program that unmarks it.
fn attach_connect_syscalls(
    session: &Session,
    progs: &mut Vec<OwnedFd>,
    links: &mut Vec<Attachment>,
) -> Result<(), Error> {
    for (section, (category, name)) in [
        (abi::PROG_SYS_EXIT_CONNECT, abi::SYS_EXIT_CONNECT),
        (abi::PROG_SYS_ENTER_CONNECT, abi::SYS_ENTER_CONNECT),
    ] {
        let id = session.tracefs.tracepoint_id(category, name).map_err(|e| match e {
            TracefsError::NoTracepoint { .. } => Error::NoTracepoint {
                tracepoint: format!("{category}:{name}"),
                since: "-L needs the syscall tracepoints, CONFIG_FTRACE_SYSCALLS",
            },
            other => Error::Tracefs(other),
        })?;
        let prog = session.load(section, BPF_PROG_TYPE_TRACEPOINT, &session.constants, &HashMap::new(), 0)?;
        let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
            .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
        progs.push(prog);
        links.push(Attachment::Perf(link));
    }
    Ok(())
}

/// Maps each field marker of the state program to where this kernel puts it.
pub fn tracepoint_field_layouts(fields: &[Field]) -> Result<HashMap<u8, Option<FieldLayout>>, Error> {
    field_layouts(abi::STATE_TRACEPOINT, &abi::STATE_FIELDS, fields)
}

/// Maps each of a program's field `markers` (marker, field name) to where
/// this kernel puts the field in tracepoint `(category, name)`'s `fields`.
pub(super) fn field_layouts(
    (category, name): (&str, &str),
    markers: &[(u8, &'static str)],
    fields: &[Field],
) -> Result<HashMap<u8, Option<FieldLayout>>, Error> {
    let mut layouts = HashMap::new();
    for &(id, field_name) in markers {
        let field = format::find(fields, field_name)
            .ok_or(Error::MissingField { tracepoint: format!("{category}:{name}"), field: field_name })?;
        layouts
            .insert(id, Some(FieldLayout { offset: field.offset, size: field.size, signed: field.signed }));
    }
    Ok(layouts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::insn::Insn;
    use crate::loader::{link_program, parse_object, LinkInputs, EMBEDDED_OBJECT};
    use crate::plan::Filters;
    use crate::tracefs::format::parse_fields;
    use crate::tracer::constants::Constants;
    use std::path::PathBuf;

    /// tests/fixtures/tracefs/<kernel>/<category>.<name>.format: format files
    /// read from real kernels (see the README there).
    fn fixtures_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tracefs")
    }

    /// The kernels with fixtures, sorted by name.
    fn fixture_kernels() -> Vec<String> {
        let mut kernels: Vec<String> = std::fs::read_dir(fixtures_dir())
            .expect("tests/fixtures/tracefs")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        kernels.sort();
        kernels
    }

    /// The fields of `category:name` on `kernel`, if that kernel has it.
    fn fixture_fields(kernel: &str, category: &str, name: &str) -> Option<Vec<Field>> {
        let path = fixtures_dir().join(kernel).join(format!("{category}.{name}.format"));
        std::fs::read_to_string(path).ok().map(|text| parse_fields(&text))
    }

    const HOST_6_18: &str = "linux-6.18.44-x86_64";

    fn state_fields(kernel: &str) -> Vec<Field> {
        let (category, name) = abi::STATE_TRACEPOINT;
        fixture_fields(kernel, category, name).unwrap_or_else(|| panic!("{kernel}: no {category}:{name}"))
    }

    fn fds_len() -> i32 {
        parse_object(EMBEDDED_OBJECT).unwrap().maps.len() as i32
    }

    /// Links an embedded program as a run would; returns the instructions
    /// before and after.
    fn link_embedded(
        section: &str,
        layouts: &HashMap<u8, Option<FieldLayout>>,
        filters: &Filters,
    ) -> Result<(Vec<Insn>, Vec<Insn>), crate::loader::LinkError> {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let program = object.program(section).unwrap();
        let fds: Vec<i32> = (0..object.maps.len() as i32).map(|i| 100 + i).collect();
        let constants = Constants::for_filters(filters).symbols();
        let insns = link_program(
            program,
            &LinkInputs { map_fds: &fds, constants: &constants, fields: layouts, stub_helpers: &[80, 35] },
        )?;
        Ok((program.insns.clone(), insns.into_iter().map(|i| Insn(i.to_le_bytes())).collect()))
    }

    /// Context loads of the linked program, as (offset, width), taken from the
    /// instructions whose original carried a field marker.
    fn context_loads(before: &[Insn], after: &[Insn]) -> Vec<(u16, u16)> {
        before
            .iter()
            .zip(after)
            .filter(|(b, _)| b.ldx_mem_width().is_some() && b.off() >= 0x4000)
            .map(|(_, a)| (a.off() as u16, a.ldx_mem_width().unwrap() as u16))
            .collect()
    }

    /// Links every tracepoint program of the embedded object against the format
    /// of its tracepoint on every kernel with a fixture (as the run does: the
    /// state program with its field layouts, the syscall programs with none),
    /// and checks each context load reads inside one real field: a whole
    /// scalar at the kernel's width, or one byte of an array.
    #[test]
    fn every_tracepoint_program_links_against_every_real_kernel_format() {
        let kernels = fixture_kernels();
        eprintln!("fixtures: {}", kernels.join(", "));
        for kernel in [
            // RHEL 7.9: syscall formats name their first field `nr`, not
            // `__syscall_nr` (the programs read only the arguments after it).
            "linux-3.10.0-1160.el7-x86_64",
            "linux-4.18.0-147.el8-x86_64",
            "linux-4.9.229-x86_64",
            "linux-4.14.67-x86_64",
            "linux-4.19.108-x86_64",
            "linux-5.4.286-x86_64",
            "linux-5.10.0-32-cloud-amd64",
            "linux-6.1.0-57-cloud-amd64",
            "linux-6.1.0-57-cloud-arm64",
            "linux-6.12.117+deb13-cloud-amd64",
            "linux-7.2.13+deb14-cloud-amd64",
            HOST_6_18,
        ] {
            assert!(kernels.iter().any(|k| k == kernel), "fixture {kernel} missing: {kernels:?}");
        }
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let mut linked = 0;
        for kernel in &kernels {
            for program in object.programs.iter().filter(|p| p.section.starts_with("tracepoint/")) {
                let mut parts = program.section.splitn(3, '/').skip(1);
                let (category, name) = match program.section.as_str() {
                    // Attached to the state tracepoint for the sk_err calibration.
                    abi::PROG_CALIBRATE_SK_ERR_TP => abi::STATE_TRACEPOINT,
                    _ => (parts.next().unwrap(), parts.next().unwrap()),
                };
                let Some(fields) = fixture_fields(kernel, category, name) else {
                    eprintln!("{kernel}: no {category}:{name}; {} not linked", program.section);
                    continue;
                };
                let layouts = if (category, name) == abi::STATE_TRACEPOINT {
                    tracepoint_field_layouts(&fields).unwrap_or_else(|e| panic!("{kernel}: {e}"))
                } else {
                    HashMap::new()
                };
                let filters =
                    Filters { pid: Some(1), ports: vec![80], family: Some(6), ..Filters::default() };
                let (before, after) = link_embedded(&program.section, &layouts, &filters)
                    .unwrap_or_else(|e| panic!("{kernel}: {}: {e}", program.section));
                for (offset, width) in context_loads(&before, &after) {
                    let field = fields
                        .iter()
                        .find(|f| (f.offset..f.offset + f.size).contains(&offset))
                        .unwrap_or_else(|| panic!("{kernel}: load at {offset} is in no field"));
                    let whole = offset == field.offset && width == field.size;
                    assert!(whole || width == 1, "{kernel}: {width}-byte load at {offset} of {field:?}");
                }
                eprintln!("{kernel}: linked {}", program.section);
                linked += 1;
            }
        }
        // 9 kernels with all three tracepoints (the state tracepoint takes
        // two programs), 3 with only the syscalls.
        assert_eq!(linked, 9 * 4 + 3 * 2, "programs linked");
    }

    #[test]
    fn the_one_byte_protocol_of_4_16_to_5_5_is_read_as_one_byte() {
        for kernel in ["linux-4.18.0-147.el8-x86_64", "linux-4.19.108-x86_64", "linux-5.4.286-x86_64"] {
            let layouts = tracepoint_field_layouts(&state_fields(kernel)).unwrap();
            let (before, after) =
                link_embedded(abi::PROG_STATE_TRACEPOINT, &layouts, &Filters::default()).unwrap();
            let loads = context_loads(&before, &after);
            assert!(loads.contains(&(30, 1)), "{kernel}: protocol at 30 read as a u8: {loads:?}");
            assert!(!loads.contains(&(30, 2)), "{kernel}: {loads:?}");
            // The addresses start on odd offsets there: read byte by byte.
            assert!(loads.contains(&(31, 1)) && loads.contains(&(70, 1)), "{kernel}: {loads:?}");
        }
        let layouts = tracepoint_field_layouts(&state_fields(HOST_6_18)).unwrap();
        let (before, after) =
            link_embedded(abi::PROG_STATE_TRACEPOINT, &layouts, &Filters::default()).unwrap();
        assert!(context_loads(&before, &after).contains(&(30, 2)), "the u16 protocol of 5.6+ is read whole");
    }

    #[test]
    fn embedded_program_links_against_the_current_layout() {
        let filters = Filters { pid: Some(4242), ports: vec![80], ..Filters::default() };
        let layouts = tracepoint_field_layouts(&state_fields(HOST_6_18)).unwrap();
        let (before, insns) = link_embedded(abi::PROG_STATE_TRACEPOINT, &layouts, &filters).unwrap();
        // No marker survives; every context load hits a real field.
        let ctx_offsets: Vec<u16> = context_loads(&before, &insns).into_iter().map(|(o, _)| o).collect();
        assert!(ctx_offsets.iter().all(|&o| (8..72).contains(&o)), "{ctx_offsets:?}");
        assert!(ctx_offsets.contains(&16) && ctx_offsets.contains(&26) && ctx_offsets.contains(&71));
        assert!(!insns.iter().any(|i| i.ldx_mem_width().is_some() && i.off() >= 0x4000));
        // Every map reference became a pseudo map fd with our fds.
        let map_loads: Vec<&Insn> = insns.iter().filter(|i| i.code() == 0x18 && i.src_reg() == 1).collect();
        assert!(map_loads.len() >= 2);
        assert!(map_loads.iter().all(|i| (100..100 + fds_len()).contains(&i.imm())));
        // The pid constant is in an immediate.
        assert!(insns.iter().any(|i| i.code() == 0xb7 && i.imm() == 4242), "a 64-bit move of the pid");
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let mut fields = state_fields(HOST_6_18);
        fields.retain(|f| f.name != "protocol");
        let err = tracepoint_field_layouts(&fields).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace through it"
        );
    }
}
