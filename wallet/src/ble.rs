//! BLE transport for the wallet: a GATT peripheral server through BlueZ, with ISO 18013-5's
//! peripheral-server characteristic roles under the engagement's service UUID: state
//! (`00000001-A123-48CE-896B-4C76973373E6`), client-to-server (`...02...`), server-to-client
//! (`...03...`, notifications). Built with the `ble` feature; tested on hardware only (see
//! README, "Bluetooth LE on two machines").

use crate::{Result, WalletError};
use bluer::adv::Advertisement;
use bluer::gatt::local::{
    characteristic_control, Application, Characteristic, CharacteristicControlEvent,
    CharacteristicNotify, CharacteristicNotifyMethod, CharacteristicWrite,
    CharacteristicWriteMethod, Service,
};
use bluer::gatt::{CharacteristicReader, CharacteristicWriter};
use bluer::Uuid;
use futures::{FutureExt, StreamExt};
use std::time::Duration;
use tuaton_common::link::Link;

/// 18013-5 peripheral-server characteristic UUIDs.
pub const STATE: Uuid = Uuid::from_u128(tuaton_common::session::gatt::STATE);
/// Client (gate) to server (wallet).
pub const CLIENT_TO_SERVER: Uuid = Uuid::from_u128(tuaton_common::session::gatt::CLIENT_TO_SERVER);
/// Server (wallet) to client (gate).
pub const SERVER_TO_CLIENT: Uuid = Uuid::from_u128(tuaton_common::session::gatt::SERVER_TO_CLIENT);

fn io(e: impl std::fmt::Display) -> WalletError {
    WalletError::Transport {
        what: "Bluetooth LE".into(),
        reason: e.to_string(),
    }
}

/// The wallet's GATT link once a gate has connected and subscribed.
pub struct BleLink {
    rt: tokio::runtime::Runtime,
    reader: CharacteristicReader,
    writer: CharacteristicWriter,
    // Dropping these stops advertising and removes the service.
    _adv: bluer::adv::AdvertisementHandle,
    _app: bluer::gatt::local::ApplicationHandle,
}

/// Advertises `service` and waits (up to `wait`) for one gate to subscribe to
/// server-to-client notifications and open client-to-server writes.
pub fn serve(service: [u8; 16], wait: Duration) -> Result<BleLink> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let (reader, writer, adv, app) = rt.block_on(async {
        let session = bluer::Session::new().await.map_err(io)?;
        let adapter = session.default_adapter().await.map_err(io)?;
        adapter.set_powered(true).await.map_err(io)?;
        let uuid = Uuid::from_bytes(service);
        let adv = adapter
            .advertise(Advertisement { service_uuids: [uuid].into_iter().collect(), discoverable: Some(true), local_name: Some("tuaton".into()), ..Default::default() })
            .await
            .map_err(io)?;
        let (c2s_control, c2s_handle) = characteristic_control();
        let (s2c_control, s2c_handle) = characteristic_control();
        let app = Application {
            services: vec![Service {
                uuid,
                primary: true,
                characteristics: vec![
                    Characteristic {
                        uuid: STATE,
                        // 0x01 start / 0x02 end; the session itself carries everything else.
                        write: Some(CharacteristicWrite {
                            write_without_response: true,
                            method: CharacteristicWriteMethod::Fun(Box::new(|_value, _req| async { Ok(()) }.boxed())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Characteristic {
                        uuid: CLIENT_TO_SERVER,
                        write: Some(CharacteristicWrite { write_without_response: true, method: CharacteristicWriteMethod::Io, ..Default::default() }),
                        control_handle: c2s_handle,
                        ..Default::default()
                    },
                    Characteristic {
                        uuid: SERVER_TO_CLIENT,
                        notify: Some(CharacteristicNotify { notify: true, method: CharacteristicNotifyMethod::Io, ..Default::default() }),
                        control_handle: s2c_handle,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let app = adapter.serve_gatt_application(app).await.map_err(io)?;
        futures::pin_mut!(c2s_control);
        futures::pin_mut!(s2c_control);
        let mut reader = None;
        let mut writer = None;
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        while reader.is_none() || writer.is_none() {
            tokio::select! {
                Some(CharacteristicControlEvent::Write(req)) = c2s_control.next() => reader = Some(req.accept().map_err(io)?),
                Some(CharacteristicControlEvent::Notify(n)) = s2c_control.next() => writer = Some(n),
                _ = &mut deadline => return Err(io("no gate connected in time")),
            }
        }
        Ok::<_, WalletError>((reader.expect("set"), writer.expect("set"), adv, app))
    })?;
    Ok(BleLink {
        rt,
        reader,
        writer,
        _adv: adv,
        _app: app,
    })
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
        // bluer reports the ATT payload size (MTU - 3); the link speaks in ATT MTU.
        self.reader.mtu().min(self.writer.mtu()) + 3
    }
}
