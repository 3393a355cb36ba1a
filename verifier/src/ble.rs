//! BLE transport for the gate: a GATT central client through BlueZ that finds the wallet
//! advertising the engagement's service UUID and uses ISO 18013-5's peripheral-server
//! characteristic roles (state, client-to-server, server-to-client). Built with the `ble`
//! feature; tested on hardware only (see README, "Bluetooth LE on two machines").

use crate::{GateError, Result};
use bluer::gatt::remote::Characteristic;
use bluer::gatt::{CharacteristicReader, CharacteristicWriter};
use bluer::{AdapterEvent, Uuid};
use futures::StreamExt;
use std::time::Duration;
use tuaton_common::link::Link;

const STATE: Uuid = Uuid::from_u128(tuaton_common::session::gatt::STATE);
const CLIENT_TO_SERVER: Uuid = Uuid::from_u128(tuaton_common::session::gatt::CLIENT_TO_SERVER);
const SERVER_TO_CLIENT: Uuid = Uuid::from_u128(tuaton_common::session::gatt::SERVER_TO_CLIENT);

fn ble(e: impl std::fmt::Display) -> GateError {
    GateError::Transport {
        what: "Bluetooth LE".into(),
        reason: e.to_string(),
    }
}

/// The gate's GATT link to one wallet.
pub struct BleLink {
    rt: tokio::runtime::Runtime,
    writer: CharacteristicWriter,
    reader: CharacteristicReader,
    state: Characteristic,
}

/// Scans for the wallet advertising `service` (up to `wait`), connects, subscribes to
/// server-to-client notifications and writes "start" to the state characteristic.
pub fn connect(service: [u8; 16], wait: Duration) -> Result<BleLink> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ble)?;
    let uuid = Uuid::from_bytes(service);
    let (writer, reader, state) = rt.block_on(async {
        let session = bluer::Session::new().await.map_err(ble)?;
        let adapter = session.default_adapter().await.map_err(ble)?;
        adapter.set_powered(true).await.map_err(ble)?;
        let found = tokio::time::timeout(wait, async {
            let events = adapter.discover_devices().await.map_err(ble)?;
            futures::pin_mut!(events);
            while let Some(ev) = events.next().await {
                let AdapterEvent::DeviceAdded(addr) = ev else { continue };
                let device = adapter.device(addr).map_err(ble)?;
                if device.uuids().await.map_err(ble)?.unwrap_or_default().contains(&uuid) {
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
        Ok::<_, GateError>((writer, reader, state))
    })?;
    Ok(BleLink {
        rt,
        writer,
        reader,
        state,
    })
}

impl Drop for BleLink {
    fn drop(&mut self) {
        // 0x02: end of session.
        let _ = self.rt.block_on(self.state.write(&[0x02]));
    }
}

impl Link for BleLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.rt.block_on(self.writer.send(chunk)).map_err(|e| {
            tuaton_common::Error::Session(tuaton_common::error::SessionError::Link(format!(
                "BLE send: {e}"
            )))
        })
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        self.rt
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(tuaton_common::session::BLE_CHUNK_WAIT_SECS),
                    self.reader.recv(),
                )
                .await
            })
            .map_err(|_| {
                tuaton_common::Error::Session(tuaton_common::error::SessionError::Timeout)
            })?
            .map_err(|e| {
                tuaton_common::Error::Session(tuaton_common::error::SessionError::Link(format!(
                    "BLE receive: {e}"
                )))
            })
    }
    fn mtu(&self) -> usize {
        self.writer.mtu().min(self.reader.mtu()) + 3
    }
}
