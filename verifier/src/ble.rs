//! BLE transport for the gate: a GATT central client through BlueZ that finds the wallet
//! advertising the engagement's service UUID and uses ISO 18013-5's peripheral-server
//! characteristic roles (state, client-to-server, server-to-client). Built with the `ble`
//! feature; tested on hardware only (see README, "Bluetooth LE on two machines"). Only
//! finding and connecting is here: chunks go in and out through [`GattLink`], the link the
//! wallet uses too.

use crate::{GateError, Result};
use bluer::{AdapterEvent, Uuid};
use futures::StreamExt;
use std::time::Duration;
use tuaton_cli::ble::{GattLink, Role, CLIENT_TO_SERVER, SERVER_TO_CLIENT, STATE};

fn ble(e: impl std::fmt::Display) -> GateError {
    GateError::Transport {
        what: "Bluetooth LE".into(),
        reason: e.to_string(),
    }
}

/// Scans for the wallet advertising `service` (up to `wait`), connects, subscribes to
/// server-to-client notifications and writes "start" to the state characteristic.
pub fn connect(service: [u8; 16], wait: Duration) -> Result<GattLink> {
    let uuid = Uuid::from_bytes(service);
    tuaton_cli::ble::open(ble, |adapter| async move {
        let found = tokio::time::timeout(wait, async {
            let events = adapter.discover_devices().await.map_err(ble)?;
            futures::pin_mut!(events);
            while let Some(ev) = events.next().await {
                let AdapterEvent::DeviceAdded(addr) = ev else {
                    continue;
                };
                let device = adapter.device(addr).map_err(ble)?;
                if device
                    .uuids()
                    .await
                    .map_err(ble)?
                    .unwrap_or_default()
                    .contains(&uuid)
                {
                    return Ok(device);
                }
            }
            Err(ble("discovery ended without finding the wallet"))
        })
        .await
        .map_err(|_| ble("the wallet was not found in time"))??;
        found.connect().await.map_err(ble)?;
        let mut chars = (None, None, None);
        for s in found.services().await.map_err(ble)? {
            if s.uuid().await.map_err(ble)? != uuid {
                continue;
            }
            for c in s.characteristics().await.map_err(ble)? {
                match c.uuid().await.map_err(ble)? {
                    u if u == STATE => chars.0 = Some(c),
                    u if u == CLIENT_TO_SERVER => chars.1 = Some(c),
                    u if u == SERVER_TO_CLIENT => chars.2 = Some(c),
                    _ => {}
                }
            }
        }
        let (Some(state), Some(c2s), Some(s2c)) = chars else {
            return Err(ble("the wallet's service lacks the state, client-to-server or server-to-client characteristic"));
        };
        let reader = s2c.notify_io().await.map_err(ble)?;
        let writer = c2s.write_io().await.map_err(ble)?;
        state.write(&[0x01]).await.map_err(ble)?;
        Ok::<_, GateError>((reader, writer, Role::Client(state)))
    })
}
