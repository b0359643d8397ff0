//! The tracepoint path: sock:inet_sock_set_state, and for -L the connect(2)
//! syscall tracepoints.
//!
//! The state program attaches as a raw tracepoint where it can (4.17+, with
//! BTF for the socket layout): the kernel then calls it with the
//! tracepoint's arguments, instead of first building a perf record of every
//! state change of every TCP socket, most of which the program drops. That
//! record is what tracing costs a host most, so this is the fast path.
//! Elsewhere it attaches as a perf tracepoint event, reading the record's
//! fields at the offsets this kernel's tracefs format gives.

use super::{Attachment, Log, Overrides, Session, PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_TRACEPOINT};
use crate::abi;
use crate::attach::raw_tracepoint::attach_raw_tracepoint;
use crate::attach::tracepoint::attach_tracepoint;
use crate::error::Error;
use crate::loader::FieldLayout;
use crate::sock_offsets;
use crate::tracefs::format::{self, Field};
use crate::tracefs::TracefsError;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

pub(super) fn start_tracepoint(
    session: &Session,
    id: u64,
    lport_defer: bool,
    overrides: &Overrides,
    log: Log<'_>,
) -> Result<(Vec<OwnedFd>, Vec<Attachment>), Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let raw = if overrides.no_raw_tracepoint {
        Err("disabled by TCPCONNECT_RAW_TRACEPOINT=off".to_owned())
    } else {
        load_raw_state_program(session)
    };
    let mut progs = Vec::new();
    let mut links = Vec::new();
    if lport_defer {
        attach_connect_syscalls(session, &mut progs, &mut links)?;
        log(format_args!("attach: tracepoints syscalls:sys_enter_connect, sys_exit_connect (-L)"));
    }
    let raw_link = raw.and_then(|prog| {
        let link =
            attach_raw_tracepoint(abi::STATE_RAW_TRACEPOINT, prog.as_fd()).map_err(|e| e.to_string())?;
        Ok((prog, link))
    });
    match raw_link {
        Ok((prog, link)) => {
            progs.push(prog);
            links.push(Attachment::Raw(link));
            log(format_args!("attach: raw tracepoint {category}:{name} (socket layout from BTF)"));
        }
        Err(reason) => {
            log(format_args!("raw tracepoint unavailable ({reason}); using the perf tracepoint event"));
            let fields = tracepoint_field_layouts(&session.tracefs.tracepoint_fields(category, name)?)?;
            let prog = session.load(
                abi::PROG_STATE_TRACEPOINT,
                PROG_TYPE_TRACEPOINT,
                &session.constants,
                &fields,
                0,
            )?;
            let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
                .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
            progs.push(prog);
            links.push(Attachment::Perf(link));
            log(format_args!("attach: tracepoint {category}:{name}"));
        }
    }
    Ok((progs, links))
}

/// The state program as a raw tracepoint program, linked with the socket
/// layout from BTF; why not, as one line for -v. Every failure falls back
/// to the perf tracepoint event, which needs neither BTF nor 4.17.
fn load_raw_state_program(session: &Session) -> Result<OwnedFd, String> {
    let btf = session.btf.get()?;
    let layout = sock_offsets::socket_layout_from_btf(btf).map_err(|e| e.to_string())?;
    let mut constants = session.constants.clone();
    constants.insert(abi::CONST_SKC_V6_DADDR, layout.v6.v6_daddr.into());
    constants.insert(abi::CONST_SKC_V6_RCV_SADDR, layout.v6.v6_rcv_saddr.into());
    constants.insert(abi::CONST_SK_PROTOCOL, layout.sk_protocol.into());
    constants.insert(abi::CONST_INET_SPORT, layout.inet_sport.into());
    session
        .load(abi::PROG_STATE_RAW_TRACEPOINT, PROG_TYPE_RAW_TRACEPOINT, &constants, &HashMap::new(), 0)
        // The first line: a verifier log would make -v's line a page.
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_owned())
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
        let prog = session.load(section, PROG_TYPE_TRACEPOINT, &session.constants, &HashMap::new(), 0)?;
        let link = attach_tracepoint(id, prog.as_fd(), session.attach_cpu())
            .map_err(Error::kernel(format!("attach to tracepoint {category}:{name}")))?;
        progs.push(prog);
        links.push(Attachment::Perf(link));
    }
    Ok(())
}

/// Maps each field marker of the program to where this kernel puts it.
pub fn tracepoint_field_layouts(fields: &[Field]) -> Result<HashMap<u8, Option<FieldLayout>>, Error> {
    let (category, name) = abi::STATE_TRACEPOINT;
    let mut layouts = HashMap::new();
    for (id, field_name, presence) in abi::STATE_FIELDS {
        let layout = format::find(fields, field_name).map(|f| FieldLayout { offset: f.offset, size: f.size });
        if layout.is_none() && presence == abi::Presence::Required {
            return Err(Error::MissingField { tracepoint: format!("{category}:{name}"), field: field_name });
        }
        layouts.insert(id, layout);
    }
    Ok(layouts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::insn::Insn;
    use crate::loader::{link_program, parse_object, LinkInputs, EMBEDDED_OBJECT};
    use crate::tracer::{filter_constants, Filters};

    fn field(name: &str, offset: u16, size: u16) -> Field {
        Field { name: name.into(), offset, size }
    }

    fn layout_6x() -> Vec<Field> {
        vec![
            field("skaddr", 8, 8),
            field("oldstate", 16, 4),
            field("newstate", 20, 4),
            field("sport", 24, 2),
            field("dport", 26, 2),
            field("family", 28, 2),
            field("protocol", 30, 2),
            field("saddr", 32, 4),
            field("daddr", 36, 4),
            field("saddr_v6", 40, 16),
            field("daddr_v6", 56, 16),
        ]
    }

    fn fds_len() -> i32 {
        parse_object(EMBEDDED_OBJECT).unwrap().maps.len() as i32
    }

    /// Links the embedded program as a run would and returns the instructions.
    fn link_embedded(fields: &[Field], filters: &Filters) -> Vec<Insn> {
        let object = parse_object(EMBEDDED_OBJECT).unwrap();
        let program = object.program(abi::PROG_STATE_TRACEPOINT).unwrap();
        let layouts = tracepoint_field_layouts(fields).unwrap();
        let fds: Vec<i32> = (0..object.maps.len() as i32).map(|i| 100 + i).collect();
        let constants = filter_constants(filters);
        let insns = link_program(
            program,
            &LinkInputs { map_fds: &fds, constants: &constants, fields: &layouts, stub_helpers: &[80, 35] },
        )
        .unwrap();
        insns.into_iter().map(|i| Insn(i.to_le_bytes())).collect()
    }

    #[test]
    fn embedded_program_links_against_the_current_layout() {
        let filters = Filters { pid: Some(4242), ports: vec![80], ..Filters::default() };
        let insns = link_embedded(&layout_6x(), &filters);
        // No marker survives; every context load hits a real field.
        let ctx_offsets: Vec<i16> = insns
            .iter()
            .filter(|i| i.ldx_mem_width().is_some() && i.src_reg() == 6)
            .map(|i| i.off())
            .collect();
        assert!(ctx_offsets.iter().all(|&o| (8..72).contains(&o)), "{ctx_offsets:?}");
        assert!(ctx_offsets.contains(&16) && ctx_offsets.contains(&26) && ctx_offsets.contains(&71));
        // Every map reference became a pseudo map fd with our fds.
        let map_loads: Vec<&Insn> = insns.iter().filter(|i| i.code() == 0x18 && i.src_reg() == 1).collect();
        assert!(map_loads.len() >= 2);
        assert!(map_loads.iter().all(|i| (100..100 + fds_len()).contains(&i.imm())));
        // The pid constant is in an immediate.
        assert!(insns.iter().any(|i| i.code() == 0x18 && i.imm() == 4242));
    }

    #[test]
    fn embedded_program_links_against_the_416_layout_without_family() {
        let mut fields = layout_6x();
        fields.retain(|f| f.name != "family");
        for f in fields.iter_mut().filter(|f| f.offset >= 30) {
            f.offset -= 2;
        }
        let insns = link_embedded(&fields, &Filters::default());
        let ctx_offsets: Vec<i16> = insns
            .iter()
            .filter(|i| i.ldx_mem_width().is_some() && i.src_reg() == 6)
            .map(|i| i.off())
            .collect();
        assert!(ctx_offsets.contains(&30), "saddr moved to 30: {ctx_offsets:?}");
        assert!(!ctx_offsets.iter().any(|&o| o >= 0x4000));
        assert!(insns.contains(&Insn::mov64_imm(
            insns.iter().find(|i| i.code() == 0xb7 && i.imm() == 0).unwrap().dst_reg(),
            0
        )));
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let mut fields = layout_6x();
        fields.retain(|f| f.name != "protocol");
        let err = tracepoint_field_layouts(&fields).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint sock:inet_sock_set_state has no field \"protocol\" on this kernel; cannot trace through it"
        );
    }
}
